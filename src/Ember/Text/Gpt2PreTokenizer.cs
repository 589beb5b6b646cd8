using System.Text;

namespace Ember.Text;

/// <summary>GPT-2's pre-tokenization: the split of text into the words that byte-pair encoding then works on.
/// GPT-2 (Radford et al., 2019, <c>encoder.py</c>) splits with the pattern
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> under Python's <c>regex</c> module,
/// which reads the text by code point. .NET's <see cref="System.Text.RegularExpressions.Regex"/> reads UTF-16 code
/// units, so a letter or digit outside the Basic Multilingual Plane (𝔘, 𝟙, many CJK extension characters) would be a
/// pair of surrogates there and split differently. This scanner applies the same alternatives in the same order to
/// code points (<see cref="Rune"/>): \p{L} is <see cref="Rune.IsLetter"/>, \p{N} is <see cref="Rune.IsNumber"/> and \s is
/// <see cref="Rune.IsWhiteSpace"/>, which is Unicode's White_Space property, as in the regex module. (JavaScript
/// ports such as gpt-3-encoder differ on two characters: their \s includes U+FEFF and excludes U+0085.)</summary>
public static class Gpt2PreTokenizer
{
    private enum Kind : byte { Letter, Number, Space, Other }

    /// <summary>The end (exclusive) of the word that starts at <paramref name="start"/>: the match GPT-2's pattern makes
    /// there. Words tile the text: the next word starts where this one ends.</summary>
    public static int WordEnd(ReadOnlySpan<char> text, int start)
    {
        if ((uint)start >= (uint)text.Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"Gpt2PreTokenizer.WordEnd: start {start} is outside the text of length {text.Length}.");
        char c = text[start];
        // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as GPT-2's pattern).
        if (c == '\'' && start + 1 < text.Length)
        {
            char n = text[start + 1];
            if (n is 's' or 't' or 'm' or 'd') return start + 2;
            if (start + 2 < text.Length)
            {
                char n2 = text[start + 2];
                if ((n == 'r' && n2 == 'e') || (n == 'v' && n2 == 'e') || (n == 'l' && n2 == 'l')) return start + 3;
            }
        }
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional U+0020 then a run of one class.
        if (c == ' ' && start + 1 < text.Length)
        {
            var next = KindAt(text, start + 1, out _);
            if (next != Kind.Space) return RunEnd(text, start + 1, next);
        }
        var kind = KindAt(text, start, out _);
        if (kind != Kind.Space) return RunEnd(text, start, kind);
        // "\s+(?!\S)" then "\s+": a whitespace run; when a non-space follows, the run's last character is left to
        // start the next word (as " word"), unless the run is that one character.
        // (Every White_Space character is in the BMP: the run's last character is one UTF-16 unit.)
        int end = RunEnd(text, start, Kind.Space);
        if (end == text.Length) return end;
        return end - 1 > start ? end - 1 : end;
    }

    /// <summary>The words of <paramref name="text"/>, in order, as ranges of it.</summary>
    public static IEnumerable<Range> Split(string text)
    {
        int pos = 0;
        while (pos < text.Length)
        {
            int end = WordEnd(text, pos);
            yield return pos..end;
            pos = end;
        }
    }

    private static int RunEnd(ReadOnlySpan<char> text, int i, Kind kind)
    {
        // ASCII inline, the rest through KindAt: without this loop the warm KJV encode ran at 75 MB/s, with it 82.
        var ascii = AsciiKinds;
        while (i < text.Length)
        {
            char c = text[i];
            if (c < 0x80)
            {
                if ((Kind)ascii[c] != kind) break;
                i++;
            }
            else
            {
                if (KindAt(text, i, out int width) != kind) break;
                i += width;
            }
        }
        return i;
    }

    // The class of each ASCII character: letters A-Z a-z, digits 0-9, whitespace \t \n \v \f \r and space, the rest other.
    private static ReadOnlySpan<byte> AsciiKinds =>
    [
        3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 3,  3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
        2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3,
        3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
        3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3, 3,
    ];

    private static Kind KindAt(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        if (c < 0x80)
        {
            width = 1;
            return (Kind)AsciiKinds[c];
        }
        // An unpaired surrogate decodes as U+FFFD (consumed alone), which UTF-8 encoding also writes: "Other".
        Rune.DecodeFromUtf16(text[i..], out var r, out width);
        if (Rune.IsLetter(r)) return Kind.Letter;
        if (Rune.IsNumber(r)) return Kind.Number;
        if (Rune.IsWhiteSpace(r)) return Kind.Space;
        return Kind.Other;
    }
}
