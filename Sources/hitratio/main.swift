print("hitratio")
