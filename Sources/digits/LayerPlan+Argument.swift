import ArgumentParser
import DigitCore

/// One item of `--layers`: `conv16` (16 filters of 3x3, same padding), `conv32k5` (5x5), `conv16-valid`,
/// `pool` (2x2 max pooling), `dense64`, `dropout0.3`. `digits train` gives its hidden layers
/// `--activation` and adds the task's output layer; `digits import` names every layer, the output
/// included, and takes the activations from `--activations`.
struct LayerItem: ExpressibleByArgument {
    /// The plan with a placeholder activation, replaced by ``plan(activation:)``.
    let plan: LayerPlan

    static let syntax = "conv<filters>[k3|k5][-same|-valid], pool, dense<units> or dropout<rate>"

    init?(argument: String) {
        if argument == "pool" {
            plan = .maxPool
        } else if let rest = argument.strippingPrefix("dropout") {
            guard let rate = Float(rest), rate >= 0, rate < 1 else { return nil }
            plan = .dropout(rate: rate)
        } else if let rest = argument.strippingPrefix("dense") {
            guard let units = Int(rest), units >= 1 else { return nil }
            plan = .dense(units: units, activation: .linear)
        } else if var rest = argument.strippingPrefix("conv") {
            var padding = Padding.same
            for candidate in Padding.allCases {
                if let stem = rest.strippingSuffix("-" + candidate.rawValue) {
                    padding = candidate
                    rest = stem
                }
            }
            var kernel = 3
            let parts = rest.split(separator: "k", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let filters = Int(parts[0]), filters >= 1 else { return nil }
            if parts.count == 2 {
                guard let size = Int(parts[1]), Conv2DLayer.kernelSizes.contains(size) else { return nil }
                kernel = size
            }
            plan = .convolution(filters: filters, kernelSize: kernel, padding: padding, activation: .linear)
        } else {
            return nil
        }
    }

    func plan(activation: Activation) -> LayerPlan {
        switch plan {
        case .dense(let units, _): .dense(units: units, activation: activation)
        case .convolution(let channels, let kernel, let padding, _):
            .convolution(filters: channels, kernelSize: kernel, padding: padding, activation: activation)
        case .maxPool, .dropout: plan
        }
    }
}

extension String {
    fileprivate func strippingPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }

    fileprivate func strippingSuffix(_ suffix: String) -> String? {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : nil
    }
}
