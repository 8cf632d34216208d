using System.Diagnostics.CodeAnalysis;

namespace PmemFs.Cli;

/// <summary>
/// Parses image sizes as people write them: <c>1048576</c>, <c>256M</c>, <c>1G</c>, <c>4GiB</c>,
/// <c>16MB</c>. Suffixes K, M, G, T (any case) are binary (powers of 1024), optionally followed
/// by <c>i</c>, <c>iB</c> or <c>B</c>; a bare <c>B</c> means bytes. No fractions, no signs, no
/// spaces inside; the result must be positive and a multiple of the 4096-byte block.
/// </summary>
public static class SizeParser
{
    /// <summary>Every size is a whole number of these (the format's block size).</summary>
    public const long Alignment = Format.FormatConstants.BlockSize;

    public static bool TryParse(string? text, out long bytes, [NotNullWhen(false)] out string? error)
    {
        bytes = 0;
        error = null;
        string s = (text ?? "").Trim();
        if (s.Length == 0)
        {
            error = "size is empty";
            return false;
        }

        int digits = 0;
        while (digits < s.Length && char.IsAsciiDigit(s[digits])) digits++;
        if (digits == 0)
        {
            error = s[0] == '-' ? $"size '{s}' is negative" : $"'{s}' is not a size (expected a number with an optional K, M, G or T suffix, e.g. 256M or 4GiB)";
            return false;
        }

        int shift = 0;
        string suffix = s[digits..];
        if (suffix.Length > 0)
        {
            int unit = char.ToUpperInvariant(suffix[0]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, 'B' => 0, _ => -1 };
            string rest = suffix[1..];
            bool restOk = unit == 0
                ? rest.Length == 0                                   // "4096B"
                : rest is "" or "B" or "b" or "i" or "iB" or "ib";  // "4K", "4KB", "4Ki", "4KiB"
            if (unit < 0 || !restOk)
            {
                error = $"'{s}' is not a size (expected a number with an optional K, M, G or T suffix, e.g. 256M or 4GiB)";
                return false;
            }
            shift = unit;
        }

        if (!long.TryParse(s.AsSpan(0, digits), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long number)
            || number > (long.MaxValue >> shift))
        {
            error = $"size '{s}' is too large";
            return false;
        }
        long value = number << shift;
        if (value == 0)
        {
            error = "size must be greater than zero";
            return false;
        }
        if (value % Alignment != 0)
        {
            error = $"size '{s}' ({value} bytes) is not a multiple of {Alignment} bytes, the block size";
            return false;
        }
        bytes = value;
        return true;
    }
}
