import Support

/// Rank statistics for judging a proxy against the ground truth.
public enum RankCorrelation {
    /// 1-based ranks in ascending order; tied values share the average of their positions.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var result = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let average = Double(start + end) / 2 + 1
            for k in start...end { result[order[k]] = average }
            start = end + 1
        }
        return result
    }

    /// Spearman's ρ: the Pearson correlation of the (average-tie) ranks. `nil` when it is
    /// undefined: fewer than two pairs, or one side constant.
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "spearman: \(x.count) vs \(y.count) values")
        return pearson(ranks(x), ranks(y))
    }

    public static func pearson(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "pearson: \(x.count) vs \(y.count) values")
        guard x.count >= 2 else { return nil }
        let n = Double(x.count)
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) {
            sxy += (a - mx) * (b - my)
            sxx += (a - mx) * (a - mx)
            syy += (b - my) * (b - my)
        }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }

    /// Kendall's τ-b: (concordant − discordant) / √((n₀ − tiesₓ)(n₀ − ties_y)) over all n₀ pairs,
    /// where a pair tied on one side counts as neither. `nil` when undefined.
    public static func kendallTauB(_ x: [Double], _ y: [Double]) -> Double? {
        precondition(x.count == y.count, "kendallTauB: \(x.count) vs \(y.count) values")
        var concordant = 0, discordant = 0, tiedX = 0, tiedY = 0
        for i in x.indices {
            for j in x.indices where j > i {
                let dx = x[i] - x[j], dy = y[i] - y[j]
                if dx == 0 { tiedX += 1 }
                if dy == 0 { tiedY += 1 }
                if dx * dy > 0 { concordant += 1 } else if dx * dy < 0 { discordant += 1 }
            }
        }
        let pairs = x.count * (x.count - 1) / 2
        let denominator = (Double(pairs - tiedX) * Double(pairs - tiedY)).squareRoot()
        guard denominator > 0 else { return nil }
        return Double(concordant - discordant) / denominator
    }

    /// For the `k` items a proxy scores highest (ties broken by position), their 1-based rank by
    /// the ground truth, best first (ties in the ground truth get the best rank of the group).
    public static func groundTruthRanks(ofTop k: Int, proxy: [Double], groundTruth: [Double]) -> [Int] {
        precondition(proxy.count == groundTruth.count, "groundTruthRanks: \(proxy.count) vs \(groundTruth.count) values")
        let top = proxy.indices.sorted { proxy[$0] != proxy[$1] ? proxy[$0] > proxy[$1] : $0 < $1 }.prefix(k)
        return top.map { i in 1 + groundTruth.filter { $0 > groundTruth[i] }.count }
    }

    /// A percentile bootstrap interval for Spearman's ρ: `resamples` draws of n pairs with
    /// replacement (seeded, so the interval is reproducible), the `level` central fraction of the
    /// resampled ρ (draws where ρ is undefined, e.g. all pairs tied, are left out). `nil` when no
    /// draw gives a defined ρ.
    public static func spearmanBootstrapInterval(_ x: [Double], _ y: [Double], level: Double = 0.95, resamples: Int = 2000,
                                                 seed: UInt64 = 0xB007) -> ClosedRange<Double>? {
        precondition(x.count == y.count, "spearmanBootstrapInterval: \(x.count) vs \(y.count) values")
        guard x.count >= 2 else { return nil }
        var rng = SeededGenerator(seed: seed)
        var values: [Double] = []
        values.reserveCapacity(resamples)
        for _ in 0..<resamples {
            let picks = (0..<x.count).map { _ in rng.nextIndex(below: x.count) }
            if let rho = spearman(picks.map { x[$0] }, picks.map { y[$0] }) { values.append(rho) }
        }
        guard !values.isEmpty else { return nil }
        values.sort()
        let tail = (1 - level) / 2
        func quantile(_ q: Double) -> Double { values[Swift.min(values.count - 1, Swift.max(0, Int((q * Double(values.count - 1)).rounded())))] }
        return quantile(tail)...quantile(1 - tail)
    }
}
