import PodLineProtocol
import Testing

@Suite struct PodCommandTests {
    private func parse(_ line: String) -> Result<PodCommand, PodCommandError> { PodCommand.parse(Substring(line)) }

    @Test func everyCommand_parses() {
        #expect(parse("set k a value with spaces ttl=250") == .success(.set(key: "k", value: "a value with spaces", ttlMilliseconds: 250, invalidateOnly: false)))
        #expect(parse("setinv k v\r") == .success(.set(key: "k", value: "v", ttlMilliseconds: nil, invalidateOnly: true)))
        #expect(parse("get k") == .success(.get(key: "k")))
        #expect(parse("peek k") == .success(.peek(key: "k")))
        #expect(parse("del k") == .success(.delete(key: "k")))
        #expect(parse("clear") == .success(.clear))
        #expect(parse("stats") == .success(.stats))
        #expect(parse("ping") == .success(.ping))
        #expect(parse("quit") == .success(.quit))
        #expect(parse("load user:1") == .success(.load(key: "user:1")))
        #expect(parse("invalidate-tag team:1") == .success(.invalidateTag(tag: "team:1")))
        #expect(parse("set k v tags=a,b:c ttl=9") == .success(.set(key: "k", value: "v", ttlMilliseconds: 9, invalidateOnly: false, tags: ["a", "b:c"])))
        #expect(parse("set k v ttl=9 tags=a") == .success(.set(key: "k", value: "v", ttlMilliseconds: 9, invalidateOnly: false, tags: ["a"])))
        // Only the trailing option words are options; one of each.
        #expect(parse("set k tags=x in the middle") == .success(.set(key: "k", value: "tags=x in the middle", ttlMilliseconds: nil, invalidateOnly: false)))
        #expect(parse("set k v ttl=1 ttl=2") == .success(.set(key: "k", value: "v ttl=1", ttlMilliseconds: 2, invalidateOnly: false)))
        #expect(parse("setinv k v tags=a") == .success(.set(key: "k", value: "v tags=a", ttlMilliseconds: nil, invalidateOnly: true)))
    }

    @Test(arguments: [
        ("", "empty command"), (" get k", "empty command"), ("get", "usage: get KEY"), ("get  k", "usage: get KEY"),
        ("set onlykey", "usage: set KEY VALUE [ttl=MS] [tags=T1,T2]"), ("setinv k", "usage: setinv KEY VALUE [ttl=MS]"),
        ("clear all", "usage: clear"), ("load", "usage: load KEY"), ("invalidate-tag", "usage: invalidate-tag TAG"),
        ("set k v tags=a,,b", "invalid option tags: expected tags=T1[,T2...], got \"tags=a,,b\""),
        ("set k v ttl=abc", "invalid option ttl: expected ttl=MILLISECONDS (> 0), got \"ttl=abc\""),
        ("set k v ttl=0", "invalid option ttl: expected ttl=MILLISECONDS (> 0), got \"ttl=0\""),
        ("set k v ttl=99999999999999999999999", "invalid option ttl: expected ttl=MILLISECONDS (> 0), got \"ttl=99999999999999999999999\""),
    ])
    func badLines_getTheirAnswer(line: String, message: String) {
        #expect(parse(line) == .failure(PodCommandError(message: message)))
    }

    @Test func unknownCommand_isNamedShortly() {
        guard case .failure(let error) = parse(String(repeating: "x", count: 500) + " k") else {
            Issue.record("parsed")
            return
        }
        #expect(error.message.hasPrefix("unknown command \"" + String(repeating: "x", count: 80) + "\""))
    }
}
