using System.Runtime.InteropServices;

namespace PmemFs.Fuse.Native;

// Layouts of libfuse 3.14 and glibc structs on x86-64 Linux, checked at startup by
// StructLayout.Verify (FUSE-FACTS.md records the measured sizes).

/// <summary>struct stat (144 bytes; st_nlink comes before st_mode on x86-64).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Stat
{
    public ulong Dev;
    public ulong Ino;
    public ulong Nlink;
    public uint Mode;
    public uint Uid;
    public uint Gid;
    private readonly int _pad0;
    public ulong Rdev;
    public long Size;
    public long BlkSize;
    public long Blocks;
    public long AtimeSec, AtimeNsec;
    public long MtimeSec, MtimeNsec;
    public long CtimeSec, CtimeNsec;
    private readonly long _reserved0, _reserved1, _reserved2;
}

/// <summary>struct fuse_entry_param (176 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseEntryParam
{
    public ulong Ino;
    public ulong Generation;
    public Stat Attr;
    public double AttrTimeout;
    public double EntryTimeout;
}

/// <summary>struct fuse_file_info (40 bytes): flags, a bit-field word, fh, lock_owner, poll_events.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseFileInfo
{
    public int Flags;
    public uint Bits;
    private readonly uint _padding2;
    private readonly uint _pad;
    public ulong Fh;
    public ulong LockOwner;
    public uint PollEvents;
    private readonly uint _pad2;

    public const uint WritePage = 1 << 0, DirectIo = 1 << 1, KeepCache = 1 << 2, Flush = 1 << 3,
        NonSeekable = 1 << 4, FlockRelease = 1 << 5, CacheReaddir = 1 << 6, NoFlush = 1 << 7;

    public readonly bool IsWritePage => (Bits & WritePage) != 0;
}

/// <summary>struct fuse_conn_info (128 bytes); only the fields PmemFs negotiates are named.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseConnInfo
{
    public uint ProtoMajor;
    public uint ProtoMinor;
    public uint MaxWrite;
    public uint MaxRead;
    public uint MaxReadahead;
    public uint Capable;
    public uint Want;
    public uint MaxBackground;
    public uint CongestionThreshold;
    public uint TimeGran;
    private fixed uint _reserved[22];
}

/// <summary>FUSE_CAP_* bits of fuse_conn_info.want / capable.</summary>
[Flags]
public enum FuseCapabilities : uint
{
    AsyncRead = 1 << 0,
    PosixLocks = 1 << 1,
    AtomicOTrunc = 1 << 3,
    ExportSupport = 1 << 4,
    DontMask = 1 << 6,
    SpliceWrite = 1 << 7,
    SpliceMove = 1 << 8,
    SpliceRead = 1 << 9,
    FlockLocks = 1 << 10,
    IoctlDir = 1 << 11,
    AutoInvalData = 1 << 12,
    ReaddirPlus = 1 << 13,
    ReaddirPlusAuto = 1 << 14,
    AsyncDio = 1 << 15,
    WritebackCache = 1 << 16,
    NoOpenSupport = 1 << 17,
    ParallelDirops = 1 << 18,
    PosixAcl = 1 << 19,
    HandleKillpriv = 1 << 20,
    CacheSymlinks = 1 << 23,
    NoOpendirSupport = 1 << 24,
    ExplicitInvalData = 1 << 25,
    ExpireOnly = 1 << 26,
}

/// <summary>struct fuse_ctx: who sent the request.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseContext
{
    public uint Uid;
    public uint Gid;
    public int Pid;
    public uint Umask;
}

/// <summary>struct fuse_args.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct FuseArgs
{
    public int Argc;
    public byte** Argv;
    public int Allocated;
}

/// <summary>struct statvfs (112 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct StatVfs
{
    public ulong BlockSize;
    public ulong FragmentSize;
    public ulong Blocks;
    public ulong BlocksFree;
    public ulong BlocksAvailable;
    public ulong Files;
    public ulong FilesFree;
    public ulong FilesAvailable;
    public ulong FsId;
    public ulong Flag;
    public ulong NameMax;
    private fixed int _spare[6];
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct IoVec
{
    public void* Base;
    public nuint Length;
}

/// <summary>struct fuse_forget_data.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FuseForgetData
{
    public ulong Ino;
    public ulong Nlookup;
}

public static unsafe class StructLayout
{
    /// <summary>Throws if this build's idea of the native structs is not the size libfuse was built with.</summary>
    public static void Verify()
    {
        Check<Stat>(144);
        Check<FuseEntryParam>(176);
        Check<FuseFileInfo>(40);
        Check<FuseConnInfo>(128);
        Check<StatVfs>(112);
        Check<FuseArgs>(24);
        Check<LowLevelOps>(44 * 8);
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            throw new PlatformNotSupportedException("the libfuse3 binding is laid out for x86-64 Linux");
    }

    private static void Check<T>(int expected) where T : unmanaged
    {
        if (sizeof(T) != expected)
            throw new InvalidOperationException($"native struct {typeof(T).Name} is {sizeof(T)} bytes here, libfuse expects {expected}");
    }
}
