extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    public func trimmingHTTPWhitespace() -> String {
        trimmingCharacters(equalTo: " ", "\t")
    }

    /// Without leading and trailing `characters`: the one trimming function of the code base.
    public func trimmingCharacters(equalTo characters: Character...) -> String {
        guard let first = firstIndex(where: { !characters.contains($0) }),
            let last = lastIndex(where: { !characters.contains($0) })
        else {
            return ""
        }
        return String(self[first...last])
    }
}
