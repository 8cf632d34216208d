using System.Runtime.InteropServices;
using PmemFs.Daemon.Native;

namespace PmemFs.Daemon;

/// <summary>
/// A second mount point for an image that is already mounted shares the running mount, as a
/// second mount of a kernel file system's device shares its superblock: a bind mount of the
/// first mount point, with per-mount flags of its own (ro, nosuid, nodev, noexec and the atime
/// ones). One daemon serves both; a rename between the two gets EXDEV, as between any two
/// mounts. Options of the file system itself (dax=, lease_break=, threads=, ...) stay those of
/// the running mount. Needs root (mount(2) MS_BIND), like a second kernel mount.
/// </summary>
public static class SharedMount
{
    /// <summary>Per-mount flags -o can set on the shared mount point, and what each sets or clears.</summary>
    private static readonly Dictionary<string, (ulong Set, ulong Clear)> PerMount = new(StringComparer.Ordinal)
    {
        ["ro"] = (LibC.MS_RDONLY, 0), ["rw"] = (0, LibC.MS_RDONLY),
        ["nosuid"] = (LibC.MS_NOSUID, 0), ["suid"] = (0, LibC.MS_NOSUID),
        ["nodev"] = (LibC.MS_NODEV, 0), ["dev"] = (0, LibC.MS_NODEV),
        ["noexec"] = (LibC.MS_NOEXEC, 0), ["exec"] = (0, LibC.MS_NOEXEC),
        ["noatime"] = (LibC.MS_NOATIME, LibC.MS_RELATIME | LibC.MS_STRICTATIME),
        ["relatime"] = (LibC.MS_RELATIME, LibC.MS_NOATIME | LibC.MS_STRICTATIME),
        ["strictatime"] = (LibC.MS_STRICTATIME, LibC.MS_NOATIME | LibC.MS_RELATIME),
        ["atime"] = (0, LibC.MS_NOATIME),
        ["nodiratime"] = (LibC.MS_NODIRATIME, 0), ["diratime"] = (0, LibC.MS_NODIRATIME),
    };

    /// <summary>The live PmemFs mount of <paramref name="image"/> on another directory than <paramref name="dir"/>, or null.</summary>
    public static MountEntry? RunningElsewhere(string image, string dir)
    {
        string full = Path.GetFullPath(dir).TrimEnd('/');
        return MountTable.FindByImage(Path.GetFullPath(image)) is { } m && m.Mountpoint != (full.Length == 0 ? "/" : full) ? m : null;
    }

    /// <summary>
    /// Binds <paramref name="first"/> on <paramref name="dir"/> with the per-mount flags of
    /// <paramref name="optionLists"/>; returns the options that were not applied because they
    /// belong to the running file system (empty when none).
    /// </summary>
    /// <exception cref="MountException">not root, or the kernel refused.</exception>
    public static IReadOnlyList<string> Share(MountEntry first, string dir, IEnumerable<string> optionLists)
    {
        string target = Path.GetFullPath(dir);
        if (!Directory.Exists(target)) throw new MountException($"{target}: mountpoint does not exist or is not a directory");
        if (LibC.geteuid() != 0)
            throw new MountException($"{first.Source}: already mounted on {first.Mountpoint}; a second mount point shares that mount through a bind mount, which only root may make (use {first.Mountpoint})");

        ulong flags = FlagsOf(first.MountFlags);
        var notApplied = new List<string>();
        foreach (var list in optionLists)
            foreach (var option in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (PerMount.TryGetValue(option, out var change)) flags = (flags | change.Set) & ~change.Clear;
                else if (!MountOptions.IsNoise(option)) notApplied.Add(option);
            }

        if (LibC.mount(first.Mountpoint, target, null, LibC.MS_BIND, 0) != 0)
            throw new MountException($"{target}: cannot bind the mount of {first.Source} on {first.Mountpoint} there: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        // A bind mount starts with the first mount's flags; change them only when asked to.
        if (flags != FlagsOf(first.MountFlags) && LibC.mount("none", target, null, LibC.MS_REMOUNT | LibC.MS_BIND | flags, 0) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            LibC.umount2(target, LibC.MNT_DETACH);
            throw new MountException($"{target}: cannot set its mount flags: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return notApplied;
    }

    private static ulong FlagsOf(string mountFlags)
    {
        ulong flags = 0;
        foreach (var option in mountFlags.Split(','))
            if (PerMount.TryGetValue(option, out var change)) flags |= change.Set;
        return flags;
    }
}
