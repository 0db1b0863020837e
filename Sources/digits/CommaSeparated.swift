import ArgumentParser
import DigitCore
import HTTPCore

/// A comma-separated list option such as `--hidden 256,128`.
struct CommaSeparated<Element: ExpressibleByArgument>: ExpressibleByArgument {
    let values: [Element]

    init?(argument: String) {
        var values: [Element] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Element(argument: part.trimmingCharacters(equalTo: " ")) else { return nil }
            values.append(value)
        }
        self.values = values
    }
}

extension Activation: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
