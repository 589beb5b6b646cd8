using System.Globalization;

namespace Ember.Serving;

/// <summary>
/// The hot path of <c>POST /v1/predict</c>: a body of exactly the common form <c>{"instances": [[n, n, …], …]}</c>
/// (flat arrays of JSON numbers, whitespace anywhere JSON allows it) read in one pass over the bytes, without a
/// document tree. Anything else — nested instances, objects, PNGs, any deviation from strict JSON, a wrong count —
/// returns null and goes to the general reader, which accepts it or names the problem; so this path never decides an
/// error. Each number becomes exactly what <c>(float)JsonElement.GetDouble()</c> gives: the correctly rounded double,
/// converted to float32 (Clinger's exact fast path for up to 15 significant digits and powers of ten up to 10^22,
/// the runtime's parser otherwise).
/// </summary>
internal static class FastInstances
{
    private static readonly double[] s_pow10 =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>The instances of a body of the common form, each of <paramref name="size"/> finite float32 values, at
    /// most <paramref name="maxInstances"/>; null when the body is anything else.</summary>
    public static float[][]? TryRead(ReadOnlySpan<byte> body, int size, int maxInstances)
    {
        int i = 0;
        if (!Expect(body, ref i, (byte)'{')) return null;
        SkipSpace(body, ref i);
        if (!body[i..].StartsWith("\"instances\""u8)) return null;
        i += "\"instances\"".Length;
        if (!Expect(body, ref i, (byte)':') || !Expect(body, ref i, (byte)'[')) return null;
        var instances = new List<float[]>();
        while (true)
        {
            if (!Expect(body, ref i, (byte)'[')) return null;
            var values = new float[size];
            for (int j = 0; j < size; j++)
            {
                if (j > 0 && !Expect(body, ref i, (byte)',')) return null;
                SkipSpace(body, ref i);
                if (!TryNumber(body, ref i, out values[j])) return null;
            }
            if (!Expect(body, ref i, (byte)']')) return null;
            instances.Add(values);
            if (instances.Count > maxInstances) return null;
            SkipSpace(body, ref i);
            if (i >= body.Length) return null;
            if (body[i] == (byte)',') { i++; continue; }
            if (body[i] != (byte)']') return null;
            i++;
            break;
        }
        if (!Expect(body, ref i, (byte)'}')) return null;
        SkipSpace(body, ref i);
        return i == body.Length ? instances.ToArray() : null;
    }

    private static void SkipSpace(ReadOnlySpan<byte> s, ref int i)
    {
        while (i < s.Length && s[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r') i++;
    }

    private static bool Expect(ReadOnlySpan<byte> s, ref int i, byte c)
    {
        SkipSpace(s, ref i);
        if (i >= s.Length || s[i] != c) return false;
        i++;
        return true;
    }

    /// <summary>A JSON number (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) that is a finite float32 after rounding
    /// through double, as the general reader checks.</summary>
    private static bool TryNumber(ReadOnlySpan<byte> s, ref int i, out float value)
    {
        value = 0;
        int start = i;
        bool negative = i < s.Length && s[i] == (byte)'-';
        if (negative) i++;
        if (i >= s.Length || !IsDigit(s[i])) return false;
        ulong mantissa = 0;
        int digits = 0, exponent = 0;
        if (s[i] == (byte)'0') i++;
        else
            for (; i < s.Length && IsDigit(s[i]); i++)
                Accumulate(s[i], ref mantissa, ref digits, ref exponent, fraction: false);
        if (i < s.Length && s[i] == (byte)'.')
        {
            i++;
            if (i >= s.Length || !IsDigit(s[i])) return false;
            for (; i < s.Length && IsDigit(s[i]); i++)
                Accumulate(s[i], ref mantissa, ref digits, ref exponent, fraction: true);
        }
        if (i < s.Length && (s[i] | 0x20) == (byte)'e')
        {
            i++;
            bool negExp = false;
            if (i < s.Length && s[i] is (byte)'+' or (byte)'-') negExp = s[i++] == (byte)'-';
            if (i >= s.Length || !IsDigit(s[i])) return false;
            int e = 0;
            for (; i < s.Length && IsDigit(s[i]); i++)
                if (e < 100_000) e = e * 10 + (s[i] - '0');
            exponent += negExp ? -e : e;
        }
        double v;
        if (digits <= 15 && Math.Abs(exponent) <= 22)
        {
            // Both the mantissa (< 10^15 < 2^53) and the power of ten are exact doubles: one correctly rounded operation.
            v = exponent >= 0 ? mantissa * s_pow10[exponent] : mantissa / s_pow10[-exponent];
            if (negative) v = -v;
        }
        else if (!double.TryParse(s[start..i], NumberStyles.Float, CultureInfo.InvariantCulture, out v)) return false;
        if (!double.IsFinite(v) || Math.Abs(v) > float.MaxValue) return false;
        value = (float)v;
        return true;
    }

    /// <summary>Adds a digit to the mantissa; leading zeros are not significant, and once 15 significant digits are
    /// held the count still grows (so the exact path is refused) while the exponent keeps the scale.</summary>
    private static void Accumulate(byte c, ref ulong mantissa, ref int digits, ref int exponent, bool fraction)
    {
        if (digits == 0 && c == (byte)'0')
        {
            if (fraction) exponent--;
            return;
        }
        if (digits < 19)
        {
            mantissa = mantissa * 10 + (ulong)(c - '0');
            if (fraction) exponent--;
        }
        else if (!fraction) exponent++;
        digits++;
    }

    private static bool IsDigit(byte c) => (uint)(c - '0') <= 9;
}
