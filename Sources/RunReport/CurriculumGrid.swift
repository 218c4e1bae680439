import FileFormats
import GTN
import TensorEngine
import Support

/// A teacher's generated curriculum as an image grid: one row per inner step, one column per
/// batch slot, the class above each column when every step gives a slot the same class.
public enum CurriculumGrid {
    /// `globalRange` maps every cell through one intensity range (the shown images' minimum and
    /// maximum), so cells compare; otherwise each cell is stretched to its own range.
    public static func render(_ teacher: Teacher, columns: Int = 10, seed: UInt64 = 1_000_003,
                              globalRange: Bool = false) -> ImageGrid {
        var rng = SeededGenerator(seed: seed ^ 0x5EED)
        let plan = teacher.plan(using: &rng)
        let T = plan.steps.count, shown = min(columns, teacher.preset.batchSize)
        let cells = teacher.syntheticBatches(for: plan).map { batch in
            let values = batch.images.scalars
            return (0..<shown).map { Array(values[($0 * 784)..<(($0 + 1) * 784)]) }
        }
        var range: ClosedRange<Float>?
        if globalRange {
            let finite = cells.joined().joined().filter(\.isFinite)
            if let low = finite.min(), let high = finite.max() { range = low...high }
        }
        var grid = ImageGrid(rows: T, columns: shown)
        for t in 0..<T {
            grid.setRowLabel(t, text: "\(t)")
            for c in 0..<shown { grid.setCell(row: t, column: c, pixels: cells[t][c], range: range) }
        }
        if plan.steps.allSatisfy({ $0.labels == plan.steps[0].labels }) {
            for c in 0..<shown { grid.setColumnLabel(c, text: "\(plan.steps[0].labels[c])") }
        }
        return grid
    }
}
