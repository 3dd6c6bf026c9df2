import Primitives
import Testing

/// Every conversion saturates instead of trapping, at both ends, and is exact in between.
@Suite struct DurationSaturatingTests {
    /// The numbers that crashed receivers when a published event carried them as a TTL in ms.
    static let hostileMilliseconds: [Int64] = [1 << 53, Int64.max, Int64.min, -1, 0]

    @Test(arguments: hostileMilliseconds)
    func hostileMilliseconds_convertWithoutTrapping(_ milliseconds: Int64) {
        let duration = Duration.milliseconds(milliseconds)
        #expect(duration.saturatingMilliseconds == milliseconds)
        let nanoseconds = duration.saturatingNanoseconds
        // |ms| ≥ 2^53 is beyond ±Int64.max nanoseconds (9.2 × 10^18 ns is 9.2 × 10^12 ms).
        if milliseconds >= 1 << 53 { #expect(nanoseconds == Int64.max) }
        if milliseconds == Int64.min { #expect(nanoseconds == Int64.min) }
        if milliseconds == -1 { #expect(nanoseconds == -1_000_000) }
        let deadline = duration.deadline(fromNanoseconds: 1_000)
        if milliseconds > 0 { #expect(deadline == Int64.max - 1, "a huge TTL still expires, very late") }
        if milliseconds == Int64.min { #expect(deadline == Int64.min + 1_000, "saturated to Int64.min ns, plus now") }
    }

    @Test func exactValues_convertExactly() {
        let duration = Duration.seconds(3) + .nanoseconds(1_500_001)
        #expect(duration.saturatingNanoseconds == 3_001_500_001)
        #expect(duration.saturatingMilliseconds == 3_001)
        #expect(duration.saturatingMillisecondsRoundedUp == 3_002)
        #expect(Duration.milliseconds(7).saturatingMillisecondsRoundedUp == 7)
        #expect(Duration.nanoseconds(1).saturatingMillisecondsRoundedUp == 1, "a positive duration is at least 1 ms")
        #expect(Duration.zero.saturatingMillisecondsRoundedUp == 0)
        #expect(Duration.milliseconds(-5).saturatingMillisecondsRoundedUp == 0)
        #expect(Duration.seconds(2).deadline(fromNanoseconds: 10) == 2_000_000_010)
    }

    @Test func roundedUpMilliseconds_saturateAtTheTop() {
        #expect(Duration.seconds(Int64.max).saturatingMillisecondsRoundedUp == Int64.max)
        #expect(Duration.seconds(Int64.max).saturatingMilliseconds == Int64.max)
        #expect(Duration.seconds(Int64.min).saturatingMilliseconds == Int64.min)
    }

    @Test func seconds_fromDoubles_saturateAndIgnoreNaN() {
        #expect(Duration(saturatingSeconds: 1.5) == .milliseconds(1_500))
        #expect(Duration(saturatingSeconds: 1e300) == .nanoseconds(Int64.max))
        #expect(Duration(saturatingSeconds: -1e300) == .nanoseconds(Int64.min))
        #expect(Duration(saturatingSeconds: .infinity) == .nanoseconds(Int64.max))
        #expect(Duration(saturatingSeconds: .nan) == .zero)
        #expect(Duration.milliseconds(2_500).secondsAsDouble == 2.5)
    }
}
