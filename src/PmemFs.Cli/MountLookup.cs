using System.Runtime.InteropServices;
using PmemFs.Cli.Native;
using PmemFs.Daemon;

namespace PmemFs.Cli;

/// <summary>A path resolved as the kernel resolves it, to find its mount (<see cref="MountTable.Containing"/>).</summary>
public static unsafe class MountLookup
{
    /// <summary>The path with every symlink, "." and ".." resolved, or null when it cannot be resolved.</summary>
    public static string? RealPath(string path)
    {
        byte* resolved = LibC.realpath(path, null);
        if (resolved == null) return null;
        try { return Marshal.PtrToStringUTF8((nint)resolved); }
        finally { LibC.free(resolved); }
    }
}
