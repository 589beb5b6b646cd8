using System.Diagnostics;
using NComplex = System.Numerics.Complex;

namespace Ember.Wireless;

/// <summary>Mean spectral efficiency of one method at each SNR (dB), and its mean time per channel.</summary>
public sealed record SpectralEfficiencyCurve(string Name, double[] SnrDb, double[] Mean, double MillisecondsPerChannel);

/// <summary>Dictionaries for matching pursuit when a data set carries no path angles.</summary>
public static class Codebook
{
    /// <summary>Array responses on an oversampled grid of the array's spatial frequencies: u = sin φ sin θ and v = cos θ
    /// each on <c>oversample·N</c> points of [−1, 1), giving (oversample·Nh)·(oversample·Nv) unit-norm columns.</summary>
    public static CMat Upa(ArrayGeometry array, int oversample = 2)
    {
        if (oversample < 1) throw new ArgumentException($"Codebook.Upa: oversampling must be ≥ 1, got {oversample}.");
        int gu = oversample * array.Horizontal, gv = oversample * array.Vertical, n = array.Count;
        var m = new CMat(n, gu * gv);
        double scale = 1 / Math.Sqrt(n);
        for (int a = 0; a < gu; a++)
            for (int b = 0; b < gv; b++)
            {
                double u = -1 + 2.0 * a / gu, v = -1 + 2.0 * b / gv;
                int col = a * gv + b;
                for (int iy = 0; iy < array.Horizontal; iy++)
                    for (int iz = 0; iz < array.Vertical; iz++)
                        m[iy * array.Vertical + iz, col] = NComplex.FromPolarCoordinates(scale, Math.PI * (iy * u + iz * v));
            }
        return m;
    }
}

/// <summary>Spectral efficiency of the classical baselines over a data set.</summary>
public static class BaselineEvaluation
{
    /// <summary>The SNRs of the thesis and of the beamforming milestone: −35:5:5 dB.</summary>
    public static double[] ThesisSnrDb => [-35, -30, -25, -20, -15, -10, -5, 0, 5];

    /// <summary>Optimal (SVD), OMP (El Ayach Algorithms 1 and 2 with the data set's path dictionaries, or oversampled UPA
    /// codebooks for arrays <paramref name="tx"/>/<paramref name="rx"/> when it has none) and beam steering (the Ns
    /// dictionary paths of largest |a_rᴴ H a_t|). OMP's combiner depends on the SNR, so it is recomputed per SNR; its
    /// time per channel covers one precoder and one combiner. With <paramref name="referenceOmp"/>, a fourth curve
    /// follows the reference MATLAB code of Yu et al. (2016) that the thesis's data comes with: the same precoder, and
    /// a combiner by plain matching pursuit of Wopt over Ar (<see cref="Beamforming.OmpCombinerSvd"/>).</summary>
    public static IReadOnlyList<SpectralEfficiencyCurve> Evaluate(BeamformingDataset data, double[] snrDb, int nrf, ArrayGeometry? tx = null, ArrayGeometry? rx = null,
        bool referenceOmp = false)
    {
        int n = data.Count, ns = data.Ns, k = snrDb.Length;
        var dictionary = DictionaryFor(data, tx, rx);
        CheckRfChains(data, nrf, dictionary(0));
        var opt = new double[n, k];
        var omp = new double[n, k];
        var reference = new double[n, k];
        var steer = new double[n, k];
        long ompTicks = 0;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Parallelism.NumThreads }, i =>
        {
            var h = data.Channel(i);
            var fopt = CMat.FromTensor(data.Fopt.Select(0, i));
            var wopt = CMat.FromTensor(data.Wopt.Select(0, i));
            var (at, ar) = dictionary(i);
            long t0 = Stopwatch.GetTimestamp();
            var (frf, fbb) = Beamforming.OmpPrecoder(fopt, at, nrf);
            var f = frf * fbb;
            long spent = Stopwatch.GetTimestamp() - t0;
            var (fs, ws) = SteerByDictionary(h, at, ar, ns);
            CMat? wref = null;
            if (referenceOmp)
            {
                var (wrfRef, wbbRef) = Beamforming.OmpCombinerSvd(wopt, ar, nrf);
                wref = wrfRef * wbbRef;
            }
            for (int s = 0; s < k; s++)
            {
                double snr = Math.Pow(10, snrDb[s] / 10);
                opt[i, s] = Beamforming.SpectralEfficiency(h, fopt, wopt, snr);
                long t1 = Stopwatch.GetTimestamp();
                var (wrf, wbb) = Beamforming.OmpCombiner(h, f, ar, nrf, snr);
                if (s == 0) spent += Stopwatch.GetTimestamp() - t1;
                omp[i, s] = Beamforming.SpectralEfficiency(h, f, wrf * wbb, snr);
                steer[i, s] = Beamforming.SpectralEfficiency(h, fs, ws, snr);
                if (wref is not null) reference[i, s] = Beamforming.SpectralEfficiency(h, f, wref, snr);
            }
            Interlocked.Add(ref ompTicks, spent);
        });
        double ompMs = ompTicks * 1000.0 / Stopwatch.Frequency / n;
        var curves = new List<SpectralEfficiencyCurve> { Curve("Optimal (SVD)", opt, snrDb, 0), Curve("OMP", omp, snrDb, ompMs), Curve("Beam steering", steer, snrDb, 0) };
        if (referenceOmp) curves.Add(Curve(ReferenceOmpName, reference, snrDb, 0));
        return curves;
    }

    /// <summary>The name of the reference-code OMP curve (<see cref="Evaluate"/> with referenceOmp).</summary>
    public const string ReferenceOmpName = "OMP (ref. code: Wopt pursuit)";

    /// <summary>Which dictionary OMP uses on <paramref name="data"/>, in words (for reports).</summary>
    public static string DictionaryDescription(BeamformingDataset data, ArrayGeometry? tx = null, ArrayGeometry? rx = null) =>
        data.At is not null && data.Ar is not null
            ? $"OMP dictionary: the data set's array responses At/Ar ({data.At.Size(2)} and {data.Ar.Size(2)} paths per channel)"
            // Codebook.Upa(array, 2) has (2·H)·(2·V) = 4·N columns: counted, not built.
            : $"OMP dictionary: oversampled (2x) UPA codebooks, {4 * (tx ?? ArrayGeometry.Square(data.Nt)).Count} transmit and " +
              $"{4 * (rx ?? ArrayGeometry.Square(data.Nr)).Count} receive beams (the data set has no At/Ar)";

    /// <summary>N_RF must carry the streams (≥ Ns) and be at most the dictionary's columns (OMP picks that many).</summary>
    public static void CheckRfChains(BeamformingDataset data, int nrf, (CMat At, CMat Ar) dictionary)
    {
        int columns = Math.Min(dictionary.At.Cols, dictionary.Ar.Cols);
        if (nrf < data.Ns || nrf > columns)
            throw new ArgumentException($"N_RF = {nrf} RF chains: must be at least the Ns = {data.Ns} streams and at most the {columns} columns of OMP's dictionary.");
    }

    /// <summary>OMP's dictionaries for channel i: the data set's path responses, or oversampled UPA codebooks (built once)
    /// for the arrays <paramref name="tx"/>/<paramref name="rx"/> (square by default) when it has none.</summary>
    public static Func<int, (CMat At, CMat Ar)> DictionaryFor(BeamformingDataset data, ArrayGeometry? tx, ArrayGeometry? rx)
    {
        if (data.At is not null && data.Ar is not null) return i => data.Dictionaries(i)!.Value;
        var codeT = Codebook.Upa(tx ?? ArrayGeometry.Square(data.Nt));
        var codeR = Codebook.Upa(rx ?? ArrayGeometry.Square(data.Nr));
        return _ => (codeT, codeR);
    }

    internal static SpectralEfficiencyCurve Curve(string name, double[,] values, double[] snrDb, double ms)
    {
        int n = values.GetLength(0), k = values.GetLength(1);
        var mean = new double[k];
        for (int s = 0; s < k; s++)
        {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += values[i, s];
            mean[s] = sum / n;
        }
        return new SpectralEfficiencyCurve(name, snrDb, mean, ms);
    }

    /// <summary>Beam steering from dictionaries: the Ns columns l with the largest |a_r,lᴴ H a_t,l| (for a channel's own
    /// path dictionaries, its strongest paths).</summary>
    public static (CMat F, CMat W) SteerByDictionary(CMat h, CMat at, CMat ar, int ns)
    {
        if (at.Cols != ar.Cols)
        {
            // Codebooks of different sizes: pick the best transmit and receive beams separately, greedily.
            var gt = (h * at);                  // Nr × Lt: response of each transmit beam
            var scoreT = Enumerable.Range(0, at.Cols).Select(c => { double s = 0; for (int r = 0; r < gt.Rows; r++) s += gt[r, c].Magnitude * gt[r, c].Magnitude; return s; }).ToArray();
            var bestT = Enumerable.Range(0, at.Cols).OrderByDescending(c => scoreT[c]).Take(ns).ToArray();
            var f = at.Columns(bestT);
            var gr = ar.H() * h * f;            // Lr × Ns
            var bestR = new List<int>();
            for (int c = 0; c < ns; c++)
            {
                int best = Enumerable.Range(0, ar.Cols).Where(r => !bestR.Contains(r)).OrderByDescending(r => gr[r, c].Magnitude).First();
                bestR.Add(best);
            }
            return (f, ar.Columns(bestR));
        }
        var gain = new double[at.Cols];
        for (int l = 0; l < at.Cols; l++)
        {
            var ha = h * at.ColumnRange(l, 1);
            NComplex s = 0;
            for (int r = 0; r < ar.Rows; r++) s += NComplex.Conjugate(ar[r, l]) * ha[r, 0];
            gain[l] = s.Magnitude;
        }
        var order = Enumerable.Range(0, at.Cols).OrderByDescending(l => gain[l]).Take(ns).ToArray();
        return (at.Columns(order), ar.Columns(order));
    }
}
