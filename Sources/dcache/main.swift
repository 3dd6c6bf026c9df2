print("dcache")
