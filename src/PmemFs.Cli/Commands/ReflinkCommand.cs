using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using PmemFs.Abi;
using PmemFs.Cli.Native;
using PmemFs.Cli.Output;
using static PmemFs.Cli.Commands.CommandGuard;

namespace PmemFs.Cli.Commands;

/// <summary>
/// <c>pmemfs reflink SRC DST [--range SRC_OFFSET:LENGTH[:DST_OFFSET]]</c>: DST shares SRC's
/// blocks (copied on a later write by either), like <c>cp --reflink=always</c>, which cannot
/// work over FUSE (FICLONE never reaches the daemon). Through PMEMFS_IOC_CLONE_RANGE on DST's
/// descriptor with SRC's descriptor: it shares or fails, never copies. DST is created if missing
/// (SRC's permission bits, less the umask) and removed again if the clone fails.
/// </summary>
public static unsafe class ReflinkCommand
{
    public const string Name = "reflink";

    private const int Block = 4096;

    /// <summary>A parsed --range: offsets and length in bytes, length 0 meaning to SRC's end of file.</summary>
    public readonly record struct CloneRange(long SrcOffset, long Length, long DstOffset);

    public static Command Build(CliConsole console)
    {
        var src = CommandLine.ImageArgument("The file whose blocks are shared (on a PmemFs mount).", "SRC");
        var dst = CommandLine.ImageArgument("The file that shares them (same mount); created if missing.", "DST");
        var range = new Option<string?>("--range")
        {
            Description = "Only SRC_OFFSET:LENGTH of SRC, at DST_OFFSET of DST (default: SRC_OFFSET); bytes or sizes (64K, 2M); offsets multiples of 4096; LENGTH 0 = to SRC's end. Without it: the whole file, DST ending up the same size as SRC.",
            HelpName = "SRC_OFFSET:LENGTH[:DST_OFFSET]",
        };
        range.Validators.Add(result =>
        {
            string text = result.GetValueOrDefault<string?>() ?? "";
            if (TryParseRange(text) is null) result.AddError($"invalid --range '{text}': SRC_OFFSET:LENGTH[:DST_OFFSET] in bytes or sizes, e.g. 0:2M or 1M:64K:0");
        });
        var command = new Command(Name, "Share SRC's blocks with DST (copy on write), like cp --reflink=always; fails rather than copying.") { src, dst, range };
        command.SetAction(parsed => CommandGuard.Run(console, Name, ExitCodes.Failure, () =>
        {
            string? rangeText = parsed.GetValue(range);
            Run(parsed.GetValue(src)!, parsed.GetValue(dst)!, rangeText is null ? null : TryParseRange(rangeText));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>SRC_OFFSET:LENGTH[:DST_OFFSET] (each plain bytes or a size with a suffix), or null when malformed.</summary>
    public static CloneRange? TryParseRange(string text)
    {
        var parts = text.Split(':');
        if (parts.Length is < 2 or > 3) return null;
        if (!Bytes(parts[0], out long s) || !Bytes(parts[1], out long n)) return null;
        long d = s;
        if (parts.Length == 3 && !Bytes(parts[2], out d)) return null;
        return new CloneRange(s, n, d);
    }

    private static bool Bytes(string text, out long bytes) =>
        text.Length > 0 && text.All(char.IsAsciiDigit) ? long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out bytes)
            : SizeParser.TryParse(text, out bytes, out _);

    /// <summary>Clones, or throws a <see cref="CommandFailedException"/> with the one-line reason (DST left as it was).</summary>
    public static void Run(string srcPath, string dstPath, CloneRange? range)
    {
        int sfd = LibC.open(srcPath, LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (sfd < 0) throw Fail($"{srcPath}: {Message(Marshal.GetLastPInvokeError())}");
        try
        {
            var s = Stat(sfd, srcPath);
            if ((s.stx_mode & LibC.S_IFMT) == LibC.S_IFDIR) throw Fail($"{srcPath}: is a directory (a reflink shares a regular file's blocks)");
            if ((s.stx_mode & LibC.S_IFMT) != LibC.S_IFREG) throw Fail($"{srcPath}: not a regular file");
            CheckDestination(srcPath, dstPath, s);
            bool created = true;
            int dfd = LibC.open(dstPath, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC, (uint)(s.stx_mode & 0x1FF));
            if (dfd < 0 && Marshal.GetLastPInvokeError() == LibC.EEXIST)
            {
                created = false;
                dfd = LibC.open(dstPath, LibC.O_WRONLY | LibC.O_CLOEXEC);
            }
            if (dfd < 0) throw Fail($"{dstPath}: {Message(Marshal.GetLastPInvokeError())}");
            bool done = false;
            try
            {
                var d = Stat(dfd, dstPath);
                if (range is null && d.stx_ino == s.stx_ino && d.stx_dev_major == s.stx_dev_major && d.stx_dev_minor == s.stx_dev_minor)
                    throw Fail($"{srcPath} and {dstPath} are the same file");
                int errno = range is { } r ? Clone(sfd, dfd, r) : CloneWholeFile(sfd, dfd, (long)s.stx_size, (long)d.stx_size);
                if (errno != 0) throw Fail(Explain(errno, srcPath, dstPath));
                done = true;
            }
            finally
            {
                LibC.close(dfd);
                if (!done && created) TryDelete(dstPath);
            }
        }
        finally { LibC.close(sfd); }
    }

    /// <summary>Before anything is created: DST must not be a directory, and must be (or be created) on SRC's file system.</summary>
    private static void CheckDestination(string srcPath, string dstPath, in LibC.statx_t s)
    {
        LibC.statx_t d = default;
        string where = dstPath;
        if (LibC.statx(LibC.AT_FDCWD, dstPath, 0, LibC.STATX_TYPE | LibC.STATX_INO, ref d) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != LibC.ENOENT) throw Fail($"{dstPath}: {Message(errno)}");
            // Not there yet: it will be created in its directory, which must be on SRC's mount.
            where = Path.GetDirectoryName(Path.GetFullPath(dstPath)) ?? "/";
            if (LibC.statx(LibC.AT_FDCWD, where, 0, LibC.STATX_TYPE, ref d) != 0) throw Fail($"{dstPath}: {Message(Marshal.GetLastPInvokeError())}");
        }
        else if ((d.stx_mode & LibC.S_IFMT) == LibC.S_IFDIR) throw Fail($"{dstPath}: is a directory (name the file to create in it)");
        if (d.stx_dev_major != s.stx_dev_major || d.stx_dev_minor != s.stx_dev_minor)
            throw Fail($"{srcPath} and {dstPath} are not on the same file system: a reflink shares blocks within one PmemFs mount (cross-device link)");
    }

    private static LibC.statx_t Stat(int fd, string path)
    {
        LibC.statx_t x = default;
        if (LibC.statx(fd, "", LibC.AT_EMPTY_PATH, LibC.STATX_TYPE | LibC.STATX_MODE | LibC.STATX_INO | LibC.STATX_SIZE, ref x) != 0)
            throw Fail($"{path}: {Message(Marshal.GetLastPInvokeError())}");
        return x;
    }

    /// <summary>
    /// The whole file, DST ending the size of SRC. One clone when DST is no longer than SRC; else
    /// (the clone's EOF rule would refuse SRC's partial last block over a longer DST) the whole
    /// blocks, then DST cut to SRC's size, then the last partial block: only that first clone can
    /// be refused for DST's or SRC's flags, before anything changed.
    /// </summary>
    private static int CloneWholeFile(int sfd, int dfd, long srcSize, long dstSize)
    {
        if (dstSize <= srcSize) return Clone(sfd, dfd, new CloneRange(0, 0, 0));
        long whole = srcSize / Block * Block;
        int errno = whole > 0 ? Clone(sfd, dfd, new CloneRange(0, whole, 0)) : 0;
        if (errno != 0) return errno;
        if (LibC.ftruncate(dfd, srcSize) != 0) return Marshal.GetLastPInvokeError();
        return srcSize > whole ? Clone(sfd, dfd, new CloneRange(whole, srcSize - whole, whole)) : 0;
    }

    /// <summary>One PMEMFS_IOC_CLONE_RANGE; returns an errno, 0 on success.</summary>
    public static int Clone(int sfd, int dfd, CloneRange r)
    {
        var a = new PmemFsCloneRange
        {
            Version = PmemFsCloneAbi.Version,
            SrcFd = sfd,
            SrcOffset = (ulong)r.SrcOffset,
            Length = (ulong)r.Length,
            DstOffset = (ulong)r.DstOffset,
        };
        return LibC.ioctl(dfd, PmemFsCloneAbi.CloneRange, &a) < 0 ? Marshal.GetLastPInvokeError() : 0;
    }

    /// <summary>One line per errno (pmemfs.h lists what each means for this ioctl).</summary>
    public static string Explain(int errno, string src, string dst) => errno switch
    {
        18 => $"{src} and {dst} are not on the same PmemFs mount: a reflink shares blocks within one file system (cross-device link)",
        22 => "invalid range: offsets must be multiples of 4096 bytes, so must the length unless the range reaches the end of SRC, and ranges within one file must not overlap (invalid argument)",
        21 => $"{dst}: is a directory",
        1 => $"{dst} is immutable, append-only or DAX_IMMUTABLE, or {src} is DAX_IMMUTABLE, which never shares blocks (operation not permitted)",
        26 => "the range is pinned by a direct-access lease holder (text file busy)",
        28 => "no space left on the file system for the shared extents",
        30 => $"{dst}: read-only file system",
        27 => "the range would end past the largest possible file (file too large)",
        31 => "a block would have more owners than PmemFs can count (too many links)",
        LibC.ENOTTY => $"{dst}: not a file on a PmemFs mount, or its daemon is older than pmemfs reflink (inappropriate ioctl)",
        9 => $"{dst} is open for appending only, or {src} is not readable (bad file descriptor)",
        3 or 13 => "the PmemFs daemon cannot check this process's descriptor of SRC (another PID namespace, or a process it may not inspect)",
        _ => Message(errno),
    };

    private static string Message(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
