/// `value` with a fixed number of decimals, rounded half away from zero ("0.9944"), for reports
/// that line up in a terminal. Finite, non-negative values only (metrics and losses).
public func decimalText(_ value: Double, places: Int = 4) -> String {
    precondition(value.isFinite && value >= 0 && (0...9).contains(places))
    var scale = 1
    for _ in 0..<places { scale *= 10 }
    let scaled = Int((value * Double(scale)).rounded())
    let fraction = String(scaled % scale)
    return "\(scaled / scale)." + String(repeating: "0", count: places - fraction.count) + fraction
}
