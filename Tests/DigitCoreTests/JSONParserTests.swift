import Foundation
import JSON
import Testing

@testable import DigitCore

@Suite("JSON parsing and writing")
struct JSONParserTests {
    func parse(_ text: String, nonFinite: Bool = false) throws -> JSONValue {
        try JSONParser(allowsNonFiniteTokens: nonFinite).parse(Array(text.utf8))
    }

    @Test("parses every kind of value")
    func values() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null, "x\"\u00e9\ud83d\ude00\n"], "b": {}} "#)
        #expect(
            value
                == .object([
                    JSONMember(
                        "a", .array([.number(1), .number(-2500), .bool(true), .bool(false), .null, .string("x\"é😀\n")])),
                    JSONMember("b", .object([])),
                ]))
        #expect(value["b"] == .object([]))
    }

    @Test(
        "refuses what RFC 8259 refuses",
        arguments: [
            "", " ", "[1,]", "{\"a\":1,}", "[01]", "[1.]", "[.5]", "[1e]", "[-]", "[+1]", "'a'", "[NaN]", "[Infinity]",
            "{a:1}", "[1] [2]", "[\"\u{01}\"]", "[\"\\x\"]", "[\"\\ud800\"]", "[\"\\udc00\"]", "tru", "nul", "[1 2]",
            "{\"a\" 1}", "[", "{", "[\"abc", "//\n[1]", "[0x10]", "[1e5.5]", "[--1]",
        ])
    func refusals(text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }

    @Test("refuses invalid UTF-8 and deep nesting")
    func hostile() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser().parse([0x5B, 0x22, 0xFF, 0x22, 0x5D]) }
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(throws: Never.self) { try parse(fine) }
    }

    @Test("errors give line and column")
    func errorPosition() {
        do {
            _ = try parse("{\n  \"a\": [1,\n   x]}")
            Issue.record("expected an error")
        } catch let error as JSONSyntaxError {
            #expect(error.line == 3 && error.column == 4)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("numbers beyond a Double's range are refused by name, never read as infinity")
    func outOfRange() {
        for text in ["1e400", "-1e400", "1" + String(repeating: "0", count: 400), "1.8e308"] {
            do {
                _ = try parse("[\(text)]")
                Issue.record("\(text) was accepted")
            } catch let error as JSONSyntaxError {
                #expect(error.message.contains("too large for a 64-bit float"), "\(text): \(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect((try? parse("[1e-400]")) == .array([.number(0)]), "underflow is a correct rounding to 0, not an error")
    }

    @Test("a parser's value and container limits refuse a document that would cost more than allowed")
    func limits() throws {
        let brackets = "[" + Array(repeating: "[0]", count: 1000).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try JSONParser(maxContainers: 1001).parse(Array(brackets.utf8)) }
        do {
            _ = try JSONParser(maxContainers: 1000).parse(Array(brackets.utf8))
            Issue.record("expected the container limit")
        } catch {
            #expect(error.exceedsLimit)
        }
        #expect(throws: JSONSyntaxError.self) { try JSONParser(maxValues: 2000).parse(Array(brackets.utf8)) }
        #expect(throws: Never.self) { try JSONParser(maxValues: 2001).parse(Array(brackets.utf8)) }
    }

    @Test("numbers are read with correct rounding, as strtod does")
    func numbers() throws {
        var generator = SeededGenerator(seed: 1)
        var texts = [
            "0", "-0", "1", "0.1", "1e-7", "123456789012345678901234567890", "2.2250738585072014e-308",
            "4.9e-324", "1.7976931348623157e308", "-1e-400", "0.30000000000000004", "9007199254740993",
            "1.00000000000000011102230246251565404236316680908203125",
        ]
        for _ in 0..<2000 {
            let bits = generator.next()
            let double = Double(bitPattern: bits)
            if double.isFinite { texts.append(double.description) }
            texts.append(Float(bitPattern: UInt32(truncatingIfNeeded: bits)).description)
            texts.append(String(Int64(bitPattern: bits) >> Int64(bits % 60)))
        }
        for text in texts where !text.contains("nan") && !text.contains("inf") {
            let parsed = try parse("[\(text)]")
            let expected = strtod(text, nil)
            #expect(parsed == .array([.number(expected)]), "\(text)")
        }
    }

    @Test("NaN and Infinity tokens parse only when asked, as non-finite numbers")
    func nonFiniteTokens() throws {
        let value = try parse("[NaN, Infinity, -Infinity]", nonFinite: true)
        guard case .array(let elements) = value, case .number(let nan) = elements[0] else {
            Issue.record("expected an array")
            return
        }
        #expect(nan.isNaN && elements[1] == .number(.infinity) && elements[2] == .number(-.infinity))
    }

    @Test("written text parses back to the same value")
    func writeRoundTrip() throws {
        let value = JSONValue.object([
            JSONMember("text", .string("quote \" backslash \\ newline \n tab \t bell \u{07} é")),
            JSONMember(
                "numbers", .array([.number(0), .number(-1), .number(0.1), .number(1e-300), .number(123456789)])),
            JSONMember("nested", .array([.object([JSONMember("a", .null)]), .array([.bool(true)])])),
        ])
        #expect(try parse(JSONWriter.compact(value)) == value)
        #expect(try parse(JSONWriter.pretty(value)) == value)
        #expect(JSONWriter.compact(.array([.number(3), .number(2.5)])) == "[3,2.5]")
    }

    @Test("every Float survives writing and reading")
    func floatRoundTrip() throws {
        var generator = SeededGenerator(seed: 2)
        for _ in 0..<20_000 {
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            guard value.isFinite else { continue }
            guard case .array(let elements) = try parse("[\(JSONWriter.number(value))]"),
                case .number(let number) = elements[0]
            else {
                Issue.record("not an array")
                return
            }
            #expect(Float(number) == value, "\(value)")
        }
    }
}
