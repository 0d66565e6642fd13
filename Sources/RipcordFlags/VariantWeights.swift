/// Unleash's variant weight distribution, for authoring tools that write flag documents.
///
/// SDKs (and `FlagEvaluator`) use `weight` as given. An Unleash server, when variants are saved,
/// keeps `fix` weights and shares the rest of `totalWeight` (1000, i.e. 100.0 %) equally among
/// `variable` variants (variants without `weightType` count as variable), the first ones
/// receiving the remainder one unit each.
public enum VariantWeights {
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        case fixedWeightsExceedTotal(fixed: Int, total: Int)
        case noVariableVariant
        case negativeWeight(String)

        public var description: String {
            switch self {
            case .fixedWeightsExceedTotal(let fixed, let total): "fixed weights (\(fixed)) exceed the total weight (\(total))"
            case .noVariableVariant: "fixed weights must leave room for at least one variable variant, or add up to the total"
            case .negativeWeight(let name): "variant \(name) has a negative weight"
            }
        }
    }

    /// Returns `variants` with the weights of variable variants computed.
    public static func distribute(_ variants: [VariantDefinition], totalWeight: Int = 1000) throws(Error) -> [VariantDefinition] {
        guard !variants.isEmpty else { return [] }
        var fixed = 0
        var variableIndices: [Int] = []
        for (i, v) in variants.enumerated() {
            if v.weightType == .fix {
                guard v.weight >= 0 else { throw .negativeWeight(v.name) }
                fixed += v.weight
            } else {
                variableIndices.append(i)
            }
        }
        guard fixed <= totalWeight else { throw .fixedWeightsExceedTotal(fixed: fixed, total: totalWeight) }
        var result = variants
        if variableIndices.isEmpty {
            guard fixed == totalWeight else { throw .noVariableVariant }
            return result
        }
        let remaining = totalWeight - fixed
        let share = remaining / variableIndices.count
        let remainder = remaining % variableIndices.count
        for (k, i) in variableIndices.enumerated() {
            result[i].weight = share + (k < remainder ? 1 : 0)
            result[i].weightType = .variable
        }
        return result
    }
}
