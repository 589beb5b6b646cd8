using NComplex = System.Numerics.Complex;

namespace Ember.Wireless;

/// <summary>A uniform planar array in the y–z plane with half-wavelength spacing: <paramref name="Horizontal"/> elements
/// along y times <paramref name="Vertical"/> along z. Element (iy, iz) has index iy·Vertical + iz, so a vector of
/// responses reshapes to the physical [Horizontal, Vertical] grid.</summary>
public sealed record ArrayGeometry(int Horizontal, int Vertical)
{
    public int Count => Horizontal * Vertical;

    /// <summary>The square array with <paramref name="n"/> elements (n must be a perfect square).</summary>
    public static ArrayGeometry Square(int n)
    {
        int s = (int)Math.Round(Math.Sqrt(n));
        if (s * s != n) throw new ArgumentException($"ArrayGeometry.Square: {n} antennas do not form a square planar array.");
        return new ArrayGeometry(s, s);
    }

    /// <summary>Unit-norm response a(φ, θ)ₖ = exp(jπ(iy·sin φ·sin θ + iz·cos θ))/√N (El Ayach et al. eq. 7, kd = π), for
    /// azimuth φ and elevation θ (from the z axis) in radians.</summary>
    public NComplex[] Response(double azimuth, double elevation)
    {
        var a = new NComplex[Count];
        double u = Math.Sin(azimuth) * Math.Sin(elevation), v = Math.Cos(elevation), scale = 1 / Math.Sqrt(Count);
        for (int iy = 0; iy < Horizontal; iy++)
            for (int iz = 0; iz < Vertical; iz++)
                a[iy * Vertical + iz] = NComplex.FromPolarCoordinates(scale, Math.PI * (iy * u + iz * v));
        return a;
    }

    public override string ToString() => $"{Horizontal}x{Vertical} UPA";
}

/// <summary>An interval of angles in degrees from which cluster mean angles are drawn uniformly.</summary>
public readonly record struct AngleRange(double MinDegrees, double MaxDegrees)
{
    public static AngleRange Full => new(0, 360);
    internal double Draw(Generator g) => (MinDegrees + (MaxDegrees - MinDegrees) * g.NextDouble()) * Math.PI / 180;
    internal bool Contains(double radians) => radians * 180 / Math.PI >= MinDegrees && radians * 180 / Math.PI <= MaxDegrees;
}

/// <summary>
/// The clustered narrowband mmWave channel of El Ayach et al. (IEEE TWC 2014, eqs. 4–7):
/// H = γ Σᵢ Σₗ αᵢₗ a_r(φʳᵢₗ, θʳᵢₗ) a_t(φᵗᵢₗ, θᵗᵢₗ)ᴴ with γ = √(NtNr/(NcNray)), αᵢₗ ~ CN(0, 1), cluster mean angles uniform
/// over the given ranges and ray angles Laplacian around them with standard deviation <see cref="AngularSpreadDegrees"/>
/// (so E‖H‖²_F = NtNr).
/// </summary>
public sealed record ChannelConfig(
    ArrayGeometry Tx, ArrayGeometry Rx, int Clusters, int RaysPerCluster, double AngularSpreadDegrees,
    AngleRange TxAzimuth, AngleRange TxElevation, AngleRange RxAzimuth, AngleRange RxElevation, bool SectoredTx = false,
    bool SharedRayOffsets = false)
{
    public int Nt => Tx.Count;
    public int Nr => Rx.Count;
    public int Paths => Clusters * RaysPerCluster;

    /// <summary>El Ayach et al. 2014, Section VI: Nt = 64 (8×8) and Nr = 16 (4×4), 8 clusters × 10 rays, 7.5° spread; the
    /// transmitter serves a sector 60° wide in azimuth and 20° in elevation, the receiver sees all directions; ray offsets
    /// shared across a ray's four angles (see <see cref="SharedRayOffsets"/>).</summary>
    public static ChannelConfig ElAyach64x16 => ElAyach(64, 16);

    /// <summary>El Ayach et al. 2014: Nt = 256 (16×16), Nr = 64 (8×8), otherwise as <see cref="ElAyach64x16"/>.</summary>
    public static ChannelConfig ElAyach256x64 => ElAyach(256, 64);

    private static ChannelConfig ElAyach(int nt, int nr) => new(ArrayGeometry.Square(nt), ArrayGeometry.Square(nr), 8, 10, 7.5,
        new AngleRange(-30, 30), new AngleRange(80, 100), new AngleRange(-180, 180), new AngleRange(0, 180), SharedRayOffsets: true);

    /// <summary>Yu, Shen, Zhang and Letaief 2016 (IEEE JSTSP), the setting of the thesis data: Nt = 144 (12×12),
    /// Nr = 36 (6×6), 5 clusters × 10 rays, 10° spread, cluster angles uniform over [0, 2π) in azimuth and elevation.</summary>
    public static ChannelConfig Yu144x36 => new(new ArrayGeometry(12, 12), new ArrayGeometry(6, 6), 5, 10, 10,
        AngleRange.Full, AngleRange.Full, AngleRange.Full, AngleRange.Full);

    /// <summary>Presets by name: <c>elayach-64x16</c>, <c>elayach-256x64</c>, <c>yu-144x36</c>.</summary>
    public static ChannelConfig Preset(string name) => name.ToLowerInvariant() switch
    {
        "elayach-64x16" => ElAyach64x16,
        "elayach-256x64" => ElAyach256x64,
        "yu-144x36" or "thesis" => Yu144x36,
        _ => throw new ArgumentException($"ChannelConfig.Preset: unknown preset '{name}'; choose elayach-64x16, elayach-256x64 or yu-144x36."),
    };

    public static IReadOnlyList<string> PresetNames => ["elayach-64x16", "elayach-256x64", "yu-144x36"];

    // SectoredTx: ideal sectored transmit elements (El Ayach eq. 5): element gain 1 for rays whose departure angles fall
    // inside the TxAzimuth × TxElevation sector and 0 outside it (off in the presets: with γ unchanged it removes power
    // and lands 0.7-1 bit/s/Hz below the paper's curves).
    // SharedRayOffsets: one Laplacian offset per ray applied to all four of its angles, as the public reproductions of
    // El Ayach's Fig. 3 do; with it the 64x16 preset lands within 0.15 bit/s/Hz of the paper's four reference values,
    // with independent offsets OMP at 0 dB lands 0.35 low (docs/benchmarks.md).

    /// <summary>Checks the numbers make a channel.</summary>
    public void Validate()
    {
        if (Clusters <= 0 || RaysPerCluster <= 0)
            throw new ArgumentException($"ChannelConfig: need at least one cluster and one ray, got {Clusters} x {RaysPerCluster}.");
        if (AngularSpreadDegrees < 0 || double.IsNaN(AngularSpreadDegrees))
            throw new ArgumentException($"ChannelConfig: angular spread must be ≥ 0 degrees, got {AngularSpreadDegrees}.");
        if (Nt <= 0 || Nr <= 0) throw new ArgumentException($"ChannelConfig: array sizes must be positive, got Nt={Nt}, Nr={Nr}.");
    }
}

/// <summary>One channel draw: H (Nr×Nt) and the paths that built it, which the OMP and beam-steering baselines use as
/// their dictionaries (A_t: Nt×L, A_r: Nr×L, gains α: L, L = Nc·Nray).</summary>
public sealed record ChannelRealization(CMat H, CMat At, CMat Ar, NComplex[] Gains);

/// <summary>Draws channels from a <see cref="ChannelConfig"/>; the same seed gives the same channels.</summary>
public static class ChannelGenerator
{
    public static ChannelRealization Draw(ChannelConfig config, Generator g)
    {
        config.Validate();
        int l = config.Paths, nt = config.Nt, nr = config.Nr;
        var at = new CMat(nt, l);
        var ar = new CMat(nr, l);
        var gains = new NComplex[l];
        double b = config.AngularSpreadDegrees * Math.PI / 180 / Math.Sqrt(2);   // Laplacian scale for that standard deviation
        for (int c = 0; c < config.Clusters; c++)
        {
            double aod = config.TxAzimuth.Draw(g), eod = config.TxElevation.Draw(g), aoa = config.RxAzimuth.Draw(g), eoa = config.RxElevation.Draw(g);
            for (int r = 0; r < config.RaysPerCluster; r++)
            {
                int p = c * config.RaysPerCluster + r;
                double o1 = Laplace(g, b), o2, o3, o4;
                if (config.SharedRayOffsets) o2 = o3 = o4 = o1;
                else { o2 = Laplace(g, b); o3 = Laplace(g, b); o4 = Laplace(g, b); }
                double pa = aod + o1, pe = eod + o2;
                var t = config.Tx.Response(pa, pe);
                var rx = config.Rx.Response(aoa + o3, eoa + o4);
                for (int i = 0; i < nt; i++) at[i, p] = t[i];
                for (int i = 0; i < nr; i++) ar[i, p] = rx[i];
                gains[p] = new NComplex(g.NextNormal(), g.NextNormal()) * Math.Sqrt(0.5);
                if (config.SectoredTx && !(config.TxAzimuth.Contains(pa) && config.TxElevation.Contains(pe))) gains[p] = 0;
            }
        }
        double gamma = Math.Sqrt((double)nt * nr / l);
        var h = new CMat(nr, nt);
        for (int p = 0; p < l; p++)
        {
            var a = gamma * gains[p];
            for (int i = 0; i < nr; i++)
            {
                var ri = a * ar[i, p];
                for (int j = 0; j < nt; j++) h.Data[i * nt + j] += ri * NComplex.Conjugate(at[j, p]);
            }
        }
        return new ChannelRealization(h, at, ar, gains);
    }

    /// <summary><paramref name="count"/> channels from one seed.</summary>
    public static ChannelRealization[] Draw(ChannelConfig config, int count, ulong seed)
    {
        var g = new Generator(seed);
        var r = new ChannelRealization[count];
        for (int i = 0; i < count; i++) r[i] = Draw(config, g);
        return r;
    }

    /// <summary>A Laplacian draw with scale b (inverse CDF).</summary>
    private static double Laplace(Generator g, double b)
    {
        double u = g.NextDouble() - 0.5;
        return -b * Math.Sign(u) * Math.Log(1 - 2 * Math.Abs(u));
    }
}
