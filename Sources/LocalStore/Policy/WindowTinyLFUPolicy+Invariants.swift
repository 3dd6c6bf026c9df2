// WindowTinyLFUPolicy+Invariants: the consistency checks tests run after every mutation.
//
// Design note. The policy's state is spread over three intrusive lists, four running weights,
// two targets, the sketch and the climber's miniatures. `_checkInvariants()` recomputes what the
// running figures summarise and compares; it walks every list, so it is compiled only with
// DCACHE_INTERNAL_CHECKS (debug builds) and tests call it after mutations.
//
// Concurrency: called under the policy lock, like every method of the policy.

extension WindowTinyLFUPolicy {
    #if DCACHE_INTERNAL_CHECKS
    /// Checks links, queue tags, weights, targets, the sketch and the climber.
    func _checkInvariants() {
        let windowTotal = window._checkInvariants(queue: .window)
        let probationTotal = probation._checkInvariants(queue: .probation)
        let protectedTotal = protected._checkInvariants(queue: .protected)
        precondition(windowTotal == windowWeight, "windowWeight \(windowWeight) != \(windowTotal)")
        precondition(protectedTotal == protectedWeight, "protectedWeight \(protectedWeight) != \(protectedTotal)")
        precondition(
            windowTotal + probationTotal + protectedTotal == weightedSize,
            "weightedSize \(weightedSize) != \(windowTotal + probationTotal + protectedTotal)")
        var nodes = 0
        window.forEach { _ in nodes += 1 }
        probation.forEach { _ in nodes += 1 }
        protected.forEach { _ in nodes += 1 }
        precondition(nodes == entryCount, "entryCount \(entryCount) != \(nodes)")
        precondition(windowMaximum >= 0 && windowMaximum <= maximumWeight, "window target outside the cache")
        precondition(
            protectedMaximum == Int(WindowTinyLFUPolicy.protectedShare * Double(maximumWeight - windowMaximum)),
            "protected target is not 80% of main")
        precondition(protectedWeight <= protectedMaximum, "protected over its target")
        sketch._checkInvariants()
        climber._checkInvariants()
    }
    #else
    @inline(__always) func _checkInvariants() {}
    #endif
}
