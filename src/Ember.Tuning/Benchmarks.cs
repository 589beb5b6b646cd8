namespace Ember.Tuning;

/// <summary>Test functions for optimizers.</summary>
public static class Benchmarks
{
    private static readonly double[] A = [1.0, 1.2, 3.0, 3.2];
    private static readonly double[,] B =
    {
        { 10, 3, 17, 3.5, 1.7, 8 }, { 0.05, 10, 17, 0.1, 8, 14 }, { 3, 3.5, 1.7, 10, 17, 8 }, { 17, 8, 0.05, 10, 0.1, 14 },
    };
    private static readonly double[,] P =
    {
        { 1312, 1696, 5569, 124, 8283, 5886 }, { 2329, 4135, 8307, 3736, 1004, 9991 },
        { 2348, 1451, 3522, 2883, 3047, 6650 }, { 4047, 8828, 8732, 5743, 1091, 381 },
    };

    /// <summary>The 6-dimensional Hartmann function on [0, 1]⁶ (Dixon and Szegő, 1978), minimum −3.32237 at
    /// (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).</summary>
    public static double Hartmann6(ReadOnlySpan<double> x)
    {
        if (x.Length != 6) throw new ArgumentException($"Hartmann6: 6 coordinates, got {x.Length}");
        double sum = 0;
        for (int i = 0; i < 4; i++)
        {
            double inner = 0;
            for (int j = 0; j < 6; j++) inner += B[i, j] * (x[j] - P[i, j] * 1e-4) * (x[j] - P[i, j] * 1e-4);
            sum += A[i] * Math.Exp(-inner);
        }
        return -sum;
    }

    /// <summary>The Hartmann-6 objective for a study: six floats x0…x5 in [0, 1].</summary>
    public static double Hartmann6(Trial trial)
    {
        Span<double> x = stackalloc double[6];
        for (int i = 0; i < 6; i++) x[i] = trial.SuggestFloat("x" + i, 0, 1);
        return Hartmann6(x);
    }
}
