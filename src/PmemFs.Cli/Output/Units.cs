using System.Globalization;

namespace PmemFs.Cli.Output;

/// <summary>Numbers for people.</summary>
public static class Units
{
    private static readonly string[] Suffixes = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

    /// <summary>"4 GiB", "1.5 MiB", "512 bytes": exact when whole, else one decimal.</summary>
    public static string Bytes(long bytes)
    {
        if (bytes < 1024) return bytes.ToString(CultureInfo.InvariantCulture) + (bytes == 1 ? " byte" : " bytes");
        int unit = 0;
        double value = bytes;
        while (value >= 1024 && unit < Suffixes.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        string number = value == Math.Floor(value)
            ? value.ToString("0", CultureInfo.InvariantCulture)
            : value.ToString("0.0", CultureInfo.InvariantCulture);
        return $"{number} {Suffixes[unit]}";
    }

    /// <summary>"12.3%" of a whole; "0%" when the whole is empty.</summary>
    public static string Percent(long part, long whole) =>
        whole <= 0 ? "0%" : (100.0 * part / whole).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    /// <summary>"1 problem", "3 problems".</summary>
    public static string Count(long n, string singular, string plural) =>
        n.ToString(CultureInfo.InvariantCulture) + " " + (n == 1 ? singular : plural);
}
