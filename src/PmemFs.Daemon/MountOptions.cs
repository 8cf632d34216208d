using PmemFs.Engine;
using PmemFs.Fuse;
using PmemFs.Engine.Leases;

namespace PmemFs.Daemon;

/// <summary>
/// The -o options of a PmemFs mount: PmemFs's own, those handed to libfuse/the kernel, and
/// the generic ones mount(8) and fstab add, which are accepted rather than failing the mount.
/// </summary>
public sealed record MountOptions
{
    public bool ReadOnly { get; init; }
    public bool NoAtime { get; init; }
    public DaxMode Dax { get; init; } = DaxMode.Inode;

    /// <summary>
    /// allow_exposed_region: mount a region that every user can read or write, or an image file
    /// owned by another user, which is otherwise refused (docs/security.md). The log records it.
    /// </summary>
    public bool AllowExposedRegion { get; init; }

    /// <summary>
    /// FUSE worker threads (threads=N); 1 runs the single-threaded loop, the default: on the
    /// 2-core machines measured it costs less CPU per request for every workload, a third less
    /// for 4 KiB writes and half for creates (docs/performance.md). Every request is short
    /// (nothing waits for the kernel or for another request), so one thread never stalls.
    /// </summary>
    public int Threads { get; init; } = 1;

    /// <summary>
    /// lease_break=SECONDS: how long the holder of a recalled layout lease has to give it back
    /// before it is revoked and the layout change goes ahead (0 to 3600, fractions allowed;
    /// default 45, the kernel's lease-break-time). Also the longest a truncate, fallocate,
    /// unlink or rename of a leased file waits (docs/leases.md).
    /// </summary>
    public TimeSpan LeaseBreakTime { get; init; } = FileSystemOptions.DefaultLeaseBreakTime;

    /// <summary>
    /// fuse_transport=libfuse|kernel: who serves /dev/fuse once libfuse has mounted. libfuse's
    /// loop speaks protocol 7.31; PmemFs's own (kernel) speaks up to 7.45 and negotiates
    /// HANDLE_KILLPRIV_V2, so writes cost no GETXATTR(security.capability) (docs/mount.md).
    /// </summary>
    public FuseTransport Transport { get; init; } = DefaultTransport;

    public const FuseTransport DefaultTransport = FuseTransport.Kernel;

    /// <summary>
    /// nosubtype: the kernel shows the mount's type as plain <c>fuse</c> instead of
    /// <c>fuse.pmemfs</c>, as test harnesses that check for type fuse need (the real xfstests,
    /// docs/xfstests.md). PmemFs's tools then know the mount by its source (docs/mount.md).
    /// </summary>
    public bool NoSubtype { get; init; }

    public const string NoSubtypeName = "nosubtype", Subtype = "pmemfs";

    public const string AllowExposedRegionName = "allow_exposed_region";

    /// <summary>Options passed to libfuse (allow_other, nosuid, fsname=, ...).</summary>
    public IReadOnlyList<string> FuseOptions { get; init; } = [];

    /// <summary>Options libfuse 3.14 understands itself (mount flags and fuse mount options).</summary>
    private static readonly HashSet<string> PassedToFuse =
    [
        "allow_other", "allow_root", "default_permissions", "auto_unmount", "debug",
        "rw", "ro", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "async", "sync", "dirsync",
        "atime", "noatime",
    ];

    private static readonly string[] PassedToFuseWithValue = ["fsname=", "max_read=", "blksize="];

    /// <summary>Added by mount(8) or meaningful only in fstab; nothing for the daemon to do.</summary>
    private static readonly HashSet<string> Ignored =
    [
        "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "nofail", "_netdev",
        "relatime", "norelatime", "strictatime", "lazytime", "nolazytime", "iversion", "noiversion", "diratime", "silent", "loud",
        // mount(8) passes it on from fstab and libfuse 3.14 refuses it; PmemFs never updates a
        // directory's access time when it is read, so what it asks for always holds.
        "nodiratime",
    ];

    /// <summary>Whether mount(8) or fstab adds <paramref name="option"/> and it asks nothing of PmemFs.</summary>
    public static bool IsNoise(string option) =>
        option.StartsWith("x-", StringComparison.Ordinal) || option.StartsWith("comment=", StringComparison.Ordinal) || Ignored.Contains(option);

    /// <summary>Parses comma-separated -o lists (several -o may be given). Throws <see cref="FormatException"/> on a bad one.</summary>
    public static MountOptions Parse(IEnumerable<string> lists)
    {
        var result = new MountOptions();
        var fuse = new List<string>();
        foreach (var list in lists)
        {
            foreach (var raw in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string option = raw;
                if (IsNoise(option)) continue;
                switch (option)
                {
                    case "ro": result = result with { ReadOnly = true }; break;
                    case "rw": result = result with { ReadOnly = false }; break;
                    case "noatime": result = result with { NoAtime = true }; break;
                    case "atime": result = result with { NoAtime = false }; break;
                }
                if (option.StartsWith("dax", StringComparison.Ordinal))
                {
                    result = result with { Dax = ParseDax(option) };
                    continue;
                }
                if (option == AllowExposedRegionName)
                {
                    result = result with { AllowExposedRegion = true };
                    continue;
                }
                if (option.StartsWith("lease_break=", StringComparison.Ordinal))
                {
                    if (!double.TryParse(option.AsSpan(12), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double seconds)
                        || seconds > LeaseTable.MaxBreakTime.TotalSeconds)
                        throw new FormatException($"bad mount option '{option}': lease_break is a number of seconds from 0 to {LeaseTable.MaxBreakTime.TotalSeconds}");
                    result = result with { LeaseBreakTime = TimeSpan.FromSeconds(seconds) };
                    continue;
                }
                if (option.StartsWith("fuse_transport=", StringComparison.Ordinal))
                {
                    result = result with
                    {
                        Transport = option[15..] switch
                        {
                            "kernel" => FuseTransport.Kernel,
                            "libfuse" => FuseTransport.LibFuse,
                            _ => throw new FormatException($"bad mount option '{option}': use fuse_transport=kernel or fuse_transport=libfuse"),
                        },
                    };
                    continue;
                }
                if (option == NoSubtypeName)
                {
                    result = result with { NoSubtype = true };
                    continue;
                }
                if (option.StartsWith("subtype=", StringComparison.Ordinal))
                {
                    // Another subtype would hide the mount from every pmemfs tool.
                    if (option[8..] != Subtype)
                        throw new FormatException($"bad mount option '{option}': a PmemFs mount is of type fuse.{Subtype}, or plain fuse with -o {NoSubtypeName}");
                    result = result with { NoSubtype = false };
                    continue;
                }
                if (option.StartsWith("threads=", StringComparison.Ordinal))
                {
                    if (!int.TryParse(option.AsSpan(8), out int threads) || threads < 1 || threads > 64)
                        throw new FormatException($"bad mount option '{option}': threads must be 1..64");
                    result = result with { Threads = threads };
                    continue;
                }
                if (PassedToFuse.Contains(option) || PassedToFuseWithValue.Any(p => option.StartsWith(p, StringComparison.Ordinal)))
                {
                    fuse.Add(option);
                    continue;
                }
                throw new FormatException($"unknown mount option '{option}' (see docs/cli.md for the options PmemFs accepts)");
            }
        }
        return result with { FuseOptions = fuse };
    }

    private static DaxMode ParseDax(string option) => option switch
    {
        "dax" or "dax=always" => DaxMode.Always,
        "dax=inode" => DaxMode.Inode,
        "dax=never" => DaxMode.Never,
        _ => throw new FormatException($"bad mount option '{option}': use dax=inode, dax=always or dax=never"),
    };
}
