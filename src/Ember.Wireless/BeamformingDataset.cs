using Ember.IO;
using NComplex = System.Numerics.Complex;

namespace Ember.Wireless;

/// <summary>The names of a beamforming data set's variables in a MAT-file: the thesis layout's by default. Files from
/// other code name them otherwise (e.g. <c>Hs</c>); At and Ar are optional.</summary>
public sealed record BeamformingVariables(string H = "H", string Fopt = "Fopt", string Wopt = "Wopt", string At = "At", string Ar = "Ar")
{
    /// <summary>The thesis layout's names.</summary>
    public static BeamformingVariables Thesis { get; } = new();
}

/// <summary>
/// Channels with their optimal (SVD) precoders and combiners, as tensors: H [N, Nr, Nt], Fopt [N, Nt, Ns],
/// Wopt [N, Nr, Ns] (complex128), optionally the path dictionaries At [N, Nt, L] and Ar [N, Nr, L] that OMP needs.
/// On disk it uses the thesis layout of MATLAB files: H [Nr×Nt×N], Fopt [Nt×Ns×N], Wopt [Nr×Ns×N] (At, Ar likewise).
/// </summary>
public sealed class BeamformingDataset
{
    public Tensor H { get; }
    public Tensor Fopt { get; }
    public Tensor Wopt { get; }
    public Tensor? At { get; }
    public Tensor? Ar { get; }

    public int Count => H.Size(0);
    public int Nr => H.Size(1);
    public int Nt => H.Size(2);
    public int Ns => Fopt.Size(2);

    public BeamformingDataset(Tensor h, Tensor fopt, Tensor wopt, Tensor? at = null, Tensor? ar = null)
    {
        if (h.Dim != 3 || !h.IsComplex) throw new ArgumentException($"BeamformingDataset: H must be complex [N, Nr, Nt], got {h.DType.Name()} [{string.Join(", ", h.Shape)}].");
        int n = h.Size(0), nr = h.Size(1), nt = h.Size(2);
        if (fopt.Dim != 3 || fopt.Size(0) != n || fopt.Size(1) != nt)
            throw new ArgumentException($"BeamformingDataset: Fopt must be [N={n}, Nt={nt}, Ns], got [{string.Join(", ", fopt.Shape)}].");
        if (wopt.Dim != 3 || wopt.Size(0) != n || wopt.Size(1) != nr || wopt.Size(2) != fopt.Size(2))
            throw new ArgumentException($"BeamformingDataset: Wopt must be [N={n}, Nr={nr}, Ns={fopt.Size(2)}], got [{string.Join(", ", wopt.Shape)}].");
        if (at is not null && (at.Dim != 3 || at.Size(0) != n || at.Size(1) != nt))
            throw new ArgumentException($"BeamformingDataset: At must be [N={n}, Nt={nt}, L], got [{string.Join(", ", at.Shape)}].");
        if (ar is not null && (ar.Dim != 3 || ar.Size(0) != n || ar.Size(1) != nr))
            throw new ArgumentException($"BeamformingDataset: Ar must be [N={n}, Nr={nr}, L], got [{string.Join(", ", ar.Shape)}].");
        H = h.To(DType.Complex128);
        Fopt = fopt.To(DType.Complex128);
        Wopt = wopt.To(DType.Complex128);
        At = at?.To(DType.Complex128);
        Ar = ar?.To(DType.Complex128);
    }

    /// <summary>Draws <paramref name="count"/> channels and computes their SVD optimum for <paramref name="ns"/> streams.</summary>
    public static BeamformingDataset Generate(ChannelConfig config, int count, int ns, ulong seed)
    {
        if (count <= 0) throw new ArgumentException($"BeamformingDataset.Generate: count must be positive, got {count}.");
        var chans = ChannelGenerator.Draw(config, count, seed);
        var h = Stack(chans.Select(c => c.H));
        var (fopt, wopt) = Beamforming.Optimal(h, ns);
        return new BeamformingDataset(h, fopt, wopt, Stack(chans.Select(c => c.At)), Stack(chans.Select(c => c.Ar)));
    }

    /// <summary>Equal-shaped matrices as one complex128 tensor [count, rows, cols].</summary>
    public static Tensor Stack(IEnumerable<CMat> mats)
    {
        var list = mats.ToList();
        int r = list[0].Rows, c = list[0].Cols;
        var flat = new NComplex[list.Count * r * c];
        for (int i = 0; i < list.Count; i++) list[i].Data.CopyTo(flat, i * r * c);
        return Tensor.FromArray(flat, list.Count, r, c);
    }

    /// <summary>Channel <paramref name="i"/> as a matrix.</summary>
    public CMat Channel(int i) => CMat.FromTensor(H.Select(0, i));

    /// <summary>The path dictionaries of channel <paramref name="i"/> (null when the data set has none).</summary>
    public (CMat At, CMat Ar)? Dictionaries(int i)
        => At is null || Ar is null ? null : (CMat.FromTensor(At.Select(0, i)), CMat.FromTensor(Ar.Select(0, i)));

    /// <summary>Rows [start, start + count).</summary>
    public BeamformingDataset Slice(int start, int count)
    {
        if (start < 0 || count <= 0 || start + count > Count)
            throw new ArgumentException($"BeamformingDataset.Slice: [{start}, {start + count}) is outside the {Count} channels.");
        return new BeamformingDataset(H.Narrow(0, start, count), Fopt.Narrow(0, start, count), Wopt.Narrow(0, start, count),
            At?.Narrow(0, start, count), Ar?.Narrow(0, start, count));
    }

    /// <summary>Writes the thesis layout (H [Nr×Nt×N], Fopt [Nt×Ns×N], Wopt [Nr×Ns×N], and At/Ar when present) to a
    /// MATLAB file, atomically; uncompressed by default (channel values do not compress: see <see cref="MatFile.Save"/>).</summary>
    public void Save(string path, bool compress = false)
    {
        var vars = new Dictionary<string, Tensor>
        {
            ["H"] = H.Permute(1, 2, 0),
            ["Fopt"] = Fopt.Permute(1, 2, 0),
            ["Wopt"] = Wopt.Permute(1, 2, 0),
        };
        if (At is not null) vars["At"] = At.Permute(1, 2, 0);
        if (Ar is not null) vars["Ar"] = Ar.Permute(1, 2, 0);
        MatFile.Save(path, vars, compress);
    }

    /// <summary>Reads a MAT-file in the thesis layout (or under the names in <paramref name="variables"/>). H is
    /// required; Fopt and Wopt are computed from H by SVD when missing (<paramref name="ns"/> streams, default 2); the
    /// array responses At/Ar are read when present (both or neither). Any numeric class is read (single precision is
    /// widened). A single channel may be 2-D.</summary>
    public static BeamformingDataset Load(string path, int? ns = null, BeamformingVariables? variables = null)
    {
        var v = variables ?? BeamformingVariables.Thesis;
        var infos = MatFile.List(path);
        bool Has(string n) => infos.Any(i => i.Name == n && i.IsSupported);
        string Holds() => infos.Count == 0 ? "no variables" : string.Join(", ", infos);
        if (!Has(v.H))
            throw new ArgumentException($"BeamformingDataset.Load: '{path}' has no numeric variable '{v.H}' for the channels (it holds {Holds()}). " +
                "Expected the thesis layout H [Nr x Nt x N], Fopt [Nt x Ns x N], Wopt [Nr x Ns x N]; name other variables with BeamformingVariables (the CLI's --h, --fopt, --wopt, --at, --ar).");
        // The optional variables may be absent under their thesis names (the role's own name), not under a name given.
        foreach (var (name, what) in new[] { (v.Fopt, "Fopt"), (v.Wopt, "Wopt"), (v.At, "At"), (v.Ar, "Ar") })
            if (name != what && !Has(name))
                throw new ArgumentException($"BeamformingDataset.Load: '{path}' has no numeric variable '{name}' (named for {what}; it holds {Holds()}).");
        if (Has(v.At) != Has(v.Ar))
            throw new ArgumentException($"BeamformingDataset.Load: '{path}' holds {(Has(v.At) ? v.At : v.Ar)} but not {(Has(v.At) ? v.Ar : v.At)}; OMP needs both array-response dictionaries or neither.");
        var wanted = new[] { v.H, v.Fopt, v.Wopt, v.At, v.Ar }.Where(Has).Distinct().ToArray();
        var loaded = MatFile.Load(path, wanted);
        var vars = new Dictionary<string, Tensor>();
        foreach (var (name, role) in new[] { (v.H, "H"), (v.Fopt, "Fopt"), (v.Wopt, "Wopt"), (v.At, "At"), (v.Ar, "Ar") })
            if (loaded.TryGetValue(name, out var t)) vars[role] = t;
        Tensor Batch(string name)
        {
            var t = vars[name];
            if (!t.IsComplex) t = t.To(t.DType == DType.Float32 ? DType.Complex64 : DType.Complex128);
            return t.Dim switch
            {
                2 => t.Unsqueeze(0),
                3 => t.Permute(2, 0, 1).Contiguous(),
                _ => throw new ArgumentException($"BeamformingDataset.Load: {name} in '{path}' has {t.Dim} dimensions [{string.Join("x", t.Shape)}]; expected [rows x cols x N]."),
            };
        }
        var h = Batch("H");
        Tensor fopt, wopt;
        if (vars.ContainsKey("Fopt") && vars.ContainsKey("Wopt"))
        {
            fopt = Batch("Fopt");
            wopt = Batch("Wopt");
            if (ns is { } want && fopt.Size(2) < want)
                throw new ArgumentException($"BeamformingDataset.Load: '{path}' holds Fopt with {fopt.Size(2)} streams, fewer than the {want} requested.");
            if (ns is { } k && fopt.Size(2) > k) { fopt = fopt.Narrow(2, 0, k); wopt = wopt.Narrow(2, 0, k); }
        }
        else (fopt, wopt) = Beamforming.Optimal(h.To(DType.Complex128), ns ?? 2);
        if (fopt.Size(0) != h.Size(0))
            throw new ArgumentException($"BeamformingDataset.Load: '{path}' holds {h.Size(0)} channels in H but {fopt.Size(0)} in Fopt.");
        return new BeamformingDataset(h, fopt, wopt, vars.ContainsKey("At") ? Batch("At") : null, vars.ContainsKey("Ar") ? Batch("Ar") : null);
    }
}
