import Foundation
import RipcordTestSupport
import Testing
@testable import RipcordJudges

@Suite(.tags(.unit)) struct NormalDistributionTests {
    @Test func cdfMatchesReferenceValues() {
        // Reference values: scipy.stats.norm.
        #expect(abs(Normal.cdf(1.96) - 0.9750021048517795) < 1e-14)
        #expect(abs(Normal.cdf(0) - 0.5) < 1e-15)
        #expect(abs(Normal.cdf(-3) - 0.0013498980316300933) < 1e-16)
        #expect(abs(Normal.survival(8) - 6.22096057427174e-16) / 6.22096057427174e-16 < 1e-10)
    }

    @Test func quantileMatchesReferenceValuesAndInvertsCDF() {
        #expect(abs(Normal.quantile(0.975) - 1.959963984540054) < 1e-12)
        #expect(abs(Normal.quantile(1e-10) - -6.361340902404056) < 1e-9)
        #expect(abs(Normal.quantile(0.999999) - 4.753424308817087) < 1e-9)
        #expect(Normal.quantile(0.5) == 0 || abs(Normal.quantile(0.5)) < 1e-15)
        for p in stride(from: 0.001, to: 1.0, by: 0.0137) {
            #expect(abs(Normal.cdf(Normal.quantile(p)) - p) < 1e-13)
        }
        #expect(Normal.quantile(0) == -.infinity)
        #expect(Normal.quantile(1) == .infinity)
        #expect(Normal.quantile(1.5).isNaN)
    }
}

@Suite(.tags(.unit)) struct RandomTests {
    @Test func generatorIsDeterministicAndStreamsDiffer() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 7, stream: 1)
        let xa = (0..<5).map { _ in a.next() }, xb = (0..<5).map { _ in b.next() }, xc = (0..<5).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func samplersHaveTheRightMoments() {
        var rng = SeededGenerator(seed: 1)
        let n = 20_000
        var sum = 0.0, sq = 0.0
        for _ in 0..<n {
            let z = rng.nextNormal()
            sum += z
            sq += z * z
        }
        #expect(abs(sum / Double(n)) < 0.03)
        #expect(abs(sq / Double(n) - 1) < 0.04)
        var ps = 0
        for _ in 0..<n { ps += rng.nextPoisson(20) }
        #expect(abs(Double(ps) / Double(n) - 20) < 0.15)
        let model = LogNormalLatency(median: 100, sigma: 0.5)
        let xs = model.samples(n, using: &rng).sorted()
        #expect(abs(xs[n / 2] / 100 - 1) < 0.03)
        #expect(abs(model.quantile(0.99) - 100 * exp(0.5 * 2.3263478740408408)) < 1e-9)
    }
}

@Suite(.tags(.unit)) struct ClassicalTestTests {
    /// U counted pair by pair: the definition, independent of the rank-sum computation.
    func bruteForceU(_ a: [Double], _ b: [Double]) -> Double {
        var u = 0.0
        for x in a { for y in b { u += x > y ? 1 : (x == y ? 0.5 : 0) } }
        return u
    }

    @Test func mannWhitneyWithoutTies() {
        // Textbook example: U = 17 (pairs where a > b); reference p-values from scipy (asymptotic, no continuity correction).
        let a: [Double] = [19, 22, 16, 29, 24], b: [Double] = [20, 11, 17, 12]
        let r = MannWhitney.test(a, b)
        #expect(r.u == 17)
        #expect(r.u == bruteForceU(a, b))
        #expect(abs(r.pValueTwoSided - 0.0864107329737) < 1e-10)
        #expect(abs(r.pValueGreater - 0.04320536648685) < 1e-10)
        // Symmetry: U_a + U_b = n_a n_b, z flips sign.
        let s = MannWhitney.test(b, a)
        #expect(s.u == 20 - 17)
        #expect(abs(s.z + r.z) < 1e-12)
    }

    @Test func mannWhitneyWithTiesUsesMidRanksAndTieCorrection() {
        let a: [Double] = [1, 2, 2, 3, 3, 3, 5, 8], b: [Double] = [2, 3, 4, 4, 6, 7, 7, 9, 10]
        let r = MannWhitney.test(a, b)
        #expect(r.u == 16.5)
        #expect(r.u == bruteForceU(a, b))
        #expect(abs(r.z - -1.8950593658247226) < 1e-12)
        #expect(abs(r.pValueTwoSided - 0.05808453717331975) < 1e-12)
        #expect(abs(r.pValueGreater - 0.9709577314133401) < 1e-12)
        // All values tied: no evidence.
        let t = MannWhitney.test([5, 5, 5], [5, 5])
        #expect(t.z == 0 && t.pValueTwoSided == 1)
    }

    @Test func waldExpectedSampleNumberMatchesTheFormula() {
        // At trueP = p1: ((1-b) ln((1-b)/a) + b ln(b/(1-a))) / KL(p1||p0); at p0: ((1-a) ln B + a ln A) / E0[z].
        let atP1 = WaldSPRT.expectedSampleNumber(p0: 0.005, p1: 0.05, alpha: 0.01, beta: 0.05, trueP: 0.05)
        #expect(abs(atP1 - 58.6951922588542) < 1e-6)
        let atP0 = WaldSPRT.expectedSampleNumber(p0: 0.005, p1: 0.05, alpha: 0.01, beta: 0.05, trueP: 0.005)
        #expect(abs(atP0 - 84.26716110917174) < 1e-6)
        #expect(abs(WaldSPRT.operatingCharacteristic(p0: 0.005, p1: 0.05, alpha: 0.01, beta: 0.05, trueP: 0.05) - 0.05) < 1e-9)
        #expect(abs(WaldSPRT.operatingCharacteristic(p0: 0.005, p1: 0.05, alpha: 0.01, beta: 0.05, trueP: 0.005) - 0.99) < 1e-9)
        // Larger true rates need fewer samples; the ASN peaks between p0 and p1.
        let far = WaldSPRT.expectedSampleNumber(p0: 0.005, p1: 0.05, alpha: 0.01, beta: 0.05, trueP: 0.10)
        let mid = WaldSPRT.expectedSampleNumber(p0: 0.005, p1: 0.05, alpha: 0.01, beta: 0.05, trueP: 0.02)
        #expect(far < atP1 && mid > atP1 && mid > atP0)
    }
}
