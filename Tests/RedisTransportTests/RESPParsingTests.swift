import Testing

@testable import RedisTransport

/// Replies from the network go through hiredis's reader and our reply objects; hostile ones must
/// fail as protocol errors, never crash or allocate without bound.
@Suite struct RESPParsingTests {
    private func parse(_ text: String) throws(RedisError) -> [RESPValue] {
        try RESPValue.parseReplies(Array(text.utf8))
    }

    @Test func everyReplyType_parses() throws {
        let replies = try parse("+OK\r\n-ERR bad\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\nx\r\n:-7\r\n*-1\r\n")
        #expect(replies == [
            .simpleString("OK"), .error("ERR bad"), .integer(42), .bulkString(Array("abc".utf8)), .null,
            .array([.bulkString([UInt8(ascii: "x")]), .integer(-7)]), .null,
        ])
    }

    @Test func incompleteReply_waitsForMoreBytes() throws {
        #expect(try parse("$10\r\nabc").isEmpty)
        #expect(try parse("*3\r\n:1\r\n").isEmpty)
    }

    @Test(arguments: ["?\r\n", "$abc\r\n", ":12x\r\n", "*2147483647\r\n", "*1048577\r\n"])
    func hostileReply_isAProtocolError(text: String) {
        #expect(throws: RedisError.self) { try parse(text) }
    }

    @Test func largestAllowedArrayHeader_isAccepted() throws {
        // 2^20 elements may be announced (the bytes for them just have not arrived).
        #expect(try parse("*1048576\r\n").isEmpty)
    }

    @Test func deepNesting_isBounded() {
        // hiredis 0.14's reader nests at most 7 levels deep; deeper is a protocol error.
        let deep = String(repeating: "*1\r\n", count: 64) + ":1\r\n"
        #expect(throws: RedisError.self) { try parse(deep) }
    }
}
