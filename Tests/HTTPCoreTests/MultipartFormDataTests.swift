import Testing

@testable import HTTPCore

@Suite("multipart/form-data bodies")
struct MultipartFormDataTests {
    func parse(
        _ text: String, boundary: String = "b0und", maxParts: Int = 10
    ) throws(MultipartError) -> MultipartFormData {
        try MultipartFormData(body: Array(text.utf8), boundary: boundary, maxParts: maxParts)
    }

    @Test("the boundary from the Content-Type: quoted or not, case of the type ignored, 1 to 70 characters")
    func boundary() {
        #expect(MultipartFormData.boundary(inContentType: "multipart/form-data; boundary=abc") == "abc")
        #expect(MultipartFormData.boundary(inContentType: "Multipart/Form-Data ; BOUNDARY=\"a b\"") == "a b")
        #expect(MultipartFormData.boundary(inContentType: "multipart/form-data") == "")
        #expect(
            MultipartFormData.boundary(
                inContentType: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)) == "")
        #expect(MultipartFormData.boundary(inContentType: "application/json") == nil)
        #expect(MultipartFormData.boundary(inContentType: "multipart/mixed; boundary=abc") == nil)
    }

    @Test("parts with a preamble, padding after a boundary, names, file names, types and binary content")
    func parts() throws {
        let body =
            "ignored preamble\r\n--b0und  \r\nContent-Disposition: form-data; name=\"a\"; filename=\"one.png\"\r\nContent-Type: image/png\r\n\r\n\u{1}\r\n--b0un\r\n"
            + "--b0und\r\ncontent-disposition: form-data; name=b\r\n\r\n\r\n--b0und--\r\nepilogue"
        let form = try parse(body)
        #expect(form.parts.map(\.name) == ["a", "b"])
        #expect(form.parts.map(\.filename) == ["one.png", nil])
        #expect(form.parts.map(\.contentType) == ["image/png", nil])
        // A line that begins like the boundary but is not it is content.
        #expect(Array(form.parts[0].content) == Array("\u{1}\r\n--b0un".utf8))
        #expect(form.parts[1].content.isEmpty)
    }

    @Test("a part with no content whose blank line is also the delimiter's line end (found by review: it trapped)")
    func emptyPartSharingTheLineEnd() throws {
        let form = try parse("--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--X--\r\n", boundary: "X")
        #expect(form.parts.count == 1 && form.parts[0].content.isEmpty)
        let two = try parse(
            "--X\r\nContent-Disposition: form-data; name=a\r\n\r\n--X\r\nContent-Disposition: form-data; name=b\r\n\r\nz\r\n--X--",
            boundary: "X")
        #expect(two.parts.map(\.name) == ["a", "b"] && Array(two.parts[1].content) == [UInt8(ascii: "z")])
    }

    @Test("framing errors say what is wrong")
    func errors() {
        let cases: [(String, String)] = [
            ("no boundary here", "holds no '--b0und' line"),
            ("--b0und\r\nContent-Disposition: form-data; name=a\r\n\r\ndata", "part 1 is not closed"),
            ("--b0und\r\nContent-Disposition: form-data; name=a\r\ndata", "headers do not end"),
            ("--b0und\r\nContent-Type: image/png\r\n\r\nx\r\n--b0und--", "needs 'Content-Disposition: form-data"),
            ("--b0und\r\nbroken header\r\n\r\nx\r\n--b0und--", "a header line without ':'"),
            ("--b0und--", "holds no part"),
            ("--b0und", "without the closing"),
            ("--b0undX\r\n", "holds more than the boundary"),
            // The boundary inside a part's content, which RFC 2046 forbids, ends the part there.
            (
                "--b0und\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--b0und-x\r\n--b0und--",
                "holds more than the boundary"
            ),
        ]
        for (body, words) in cases {
            #expect {
                try parse(body)
            } throws: { error in
                "\(error)".contains(words)
            }
        }
    }

    @Test("more parts than allowed is over a limit, not a malformed body")
    func tooMany() throws {
        let part = "--b0und\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n"
        #expect(throws: MultipartError("the body holds more than 2 parts", tooLarge: true)) {
            try parse(String(repeating: part, count: 3) + "--b0und--", maxParts: 2)
        }
        #expect(try parse(String(repeating: part, count: 2) + "--b0und--", maxParts: 2).parts.count == 2)
    }

    @Test("a megabyte of near-boundaries is searched in linear time and refused")
    func nearBoundaries() {
        let boundary = String(repeating: "-", count: 70)
        let body = String(repeating: "\r\n" + String(repeating: "-", count: 69) + "x", count: 15_000)
        #expect(throws: MultipartError.self) { try parse(body, boundary: boundary) }
    }
}
