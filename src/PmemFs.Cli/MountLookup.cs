using System.Runtime.InteropServices;
using PmemFs.Cli.Native;
using PmemFs.Daemon;

namespace PmemFs.Cli;

/// <summary>Which mount a path lies on, from /proc/self/mountinfo and realpath(3).</summary>
public static unsafe class MountLookup
{
    public const string PmemFsType = "fuse.pmemfs";

    /// <summary>The path with every symlink, "." and ".." resolved, or null when it cannot be resolved.</summary>
    public static string? RealPath(string path)
    {
        byte* resolved = LibC.realpath(path, null);
        if (resolved == null) return null;
        try { return Marshal.PtrToStringUTF8((nint)resolved); }
        finally { LibC.free(resolved); }
    }

    /// <summary>
    /// The mount that holds <paramref name="realPath"/>: the longest mount point that is a prefix
    /// of it, the last one listed when mounts are stacked (it hides the ones under it).
    /// </summary>
    public static MountEntry? Containing(string realPath, IReadOnlyList<MountEntry> mounts)
    {
        MountEntry? best = null;
        foreach (var m in mounts)
        {
            bool holds = m.Mountpoint == "/" || realPath == m.Mountpoint || realPath.StartsWith(m.Mountpoint + "/", StringComparison.Ordinal);
            if (holds && (best is null || m.Mountpoint.Length >= best.Mountpoint.Length)) best = m;
        }
        return best;
    }
}
