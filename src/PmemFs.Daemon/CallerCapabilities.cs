using System.Globalization;

namespace PmemFs.Daemon;

/// <summary>
/// A caller's effective capabilities, read from /proc/PID/status (CapEff) at the time of the
/// request: FUSE passes uid, gid and pid, not capabilities.
/// </summary>
public static class CallerCapabilities
{
    public const int SysAdmin = 21;
    public const int LinuxImmutable = 9;

    /// <summary>Whether process <paramref name="pid"/> has capability number <paramref name="capability"/>; false if it is gone.</summary>
    public static bool Has(int pid, int capability) => (Effective(pid) & (1UL << capability)) != 0;

    /// <summary>The CapEff mask of process <paramref name="pid"/> (bit n is capability n); none if it is gone.</summary>
    public static ulong Effective(int pid)
    {
        if (pid <= 0) return 0;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("CapEff:", StringComparison.Ordinal)) continue;
                return ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask) ? mask : 0;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
