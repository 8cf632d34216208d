using System.Runtime.InteropServices;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// FUSE_INIT answered as libfuse 3.14's do_init would (its capability mapping and defaults, the
/// file system's Init on a native fuse_conn_info), but at the kernel's protocol up to 7.45 and
/// with FUSE_HANDLE_KILLPRIV_V2 added when the file system handles killpriv itself.
/// </summary>
public static unsafe class InitNegotiation
{
    public const uint Major = 7, MaxMinor = 45;

    /// <summary>libfuse's buffer: 256 pages of data plus a page for headers.</summary>
    public const uint DefaultMaxWrite = 256 * 4096, HeaderRoom = 4096;

    private static readonly (InitFlags Kernel, FuseCapabilities Cap)[] Map =
    [
        (InitFlags.AsyncRead, FuseCapabilities.AsyncRead),
        (InitFlags.PosixLocks, FuseCapabilities.PosixLocks),
        (InitFlags.AtomicOTrunc, FuseCapabilities.AtomicOTrunc),
        (InitFlags.ExportSupport, FuseCapabilities.ExportSupport),
        (InitFlags.DontMask, FuseCapabilities.DontMask),
        (InitFlags.FlockLocks, FuseCapabilities.FlockLocks),
        (InitFlags.AutoInvalData, FuseCapabilities.AutoInvalData),
        (InitFlags.DoReaddirplus, FuseCapabilities.ReaddirPlus),
        (InitFlags.ReaddirplusAuto, FuseCapabilities.ReaddirPlusAuto),
        (InitFlags.AsyncDio, FuseCapabilities.AsyncDio),
        (InitFlags.WritebackCache, FuseCapabilities.WritebackCache),
        (InitFlags.NoOpenSupport, FuseCapabilities.NoOpenSupport),
        (InitFlags.ParallelDirops, FuseCapabilities.ParallelDirops),
        (InitFlags.PosixAcl, FuseCapabilities.PosixAcl),
        (InitFlags.HandleKillpriv, FuseCapabilities.HandleKillpriv),
        (InitFlags.CacheSymlinks, FuseCapabilities.CacheSymlinks),
        (InitFlags.NoOpendirSupport, FuseCapabilities.NoOpendirSupport),
        (InitFlags.ExplicitInvalData, FuseCapabilities.ExplicitInvalData),
        (InitFlags.HasIoctlDir, FuseCapabilities.IoctlDir),
    ];

    /// <summary>What libfuse 3.14 wants by default when the kernel can (the ops table has readdir and readdirplus, no locks, no write_buf).</summary>
    private const FuseCapabilities Defaults = FuseCapabilities.AsyncRead | FuseCapabilities.ParallelDirops | FuseCapabilities.AutoInvalData
        | FuseCapabilities.HandleKillpriv | FuseCapabilities.AsyncDio | FuseCapabilities.IoctlDir | FuseCapabilities.AtomicOTrunc
        | FuseCapabilities.ReaddirPlus | FuseCapabilities.ReaddirPlusAuto;

    /// <summary>The outcome: the reply, what the file system wants, or the errno to refuse INIT with.</summary>
    public readonly record struct Result(InitOut Reply, FuseCapabilities Want, uint MaxWrite, int Errno);

    public static ulong KernelFlags(in InitIn arg) =>
        arg.Flags | ((arg.Flags & (uint)InitFlags.InitExt) != 0 ? (ulong)arg.Flags2 << 32 : 0);

    public static FuseCapabilities Capable(ulong kernelFlags)
    {
        FuseCapabilities capable = 0;
        foreach (var (k, c) in Map)
            if ((kernelFlags & (ulong)k) != 0) capable |= c;
        return capable;
    }

    /// <summary>Negotiates; <paramref name="init"/> is the file system's Init (called with a native fuse_conn_info).</summary>
    public static Result Negotiate(in InitIn arg, Action<nint> init)
    {
        var reply = new InitOut { Major = Major, Minor = MaxMinor };
        if (arg.Major < 7) return new Result(reply, 0, 0, Posix.EPROTO);
        // A newer major: answer with ours and wait for a second INIT (as libfuse does).
        if (arg.Major > 7) return new Result(reply, 0, 0, 0);
        reply.Minor = Math.Min(arg.Minor, MaxMinor);

        ulong kernel = KernelFlags(arg);
        var conn = (FuseConnInfo*)NativeMemory.AllocZeroed((nuint)sizeof(FuseConnInfo));
        try
        {
            conn->ProtoMajor = arg.Major;
            conn->ProtoMinor = reply.Minor; // what is spoken (libfuse shows the kernel's here)
            conn->MaxWrite = DefaultMaxWrite;
            conn->MaxReadahead = arg.MaxReadahead;
            conn->Capable = (uint)(Capable(kernel));
            conn->Want = (uint)(Defaults & (FuseCapabilities)conn->Capable);
            conn->TimeGran = 1;
            init((nint)conn);

            var want = (FuseCapabilities)conn->Want;
            if ((want & ~(FuseCapabilities)conn->Capable) != 0) return new Result(reply, want, 0, Posix.EPROTO);

            uint maxWrite = Math.Clamp(conn->MaxWrite, 4096u, DefaultMaxWrite);
            ulong flags = (ulong)InitFlags.BigWrites;
            if ((kernel & (ulong)InitFlags.MaxPages) != 0)
            {
                flags |= (ulong)InitFlags.MaxPages;
                reply.MaxPages = (ushort)((maxWrite - 1) / 4096 + 1);
            }
            foreach (var (k, c) in Map)
                if ((want & c) != 0) flags |= (ulong)k;
            // The file system clears suid/sgid itself on writes (it asked for killpriv): then the
            // kernel need not look up security.capability before every write (no GETXATTR).
            if ((want & FuseCapabilities.HandleKillpriv) != 0 && (kernel & (ulong)InitFlags.HandleKillprivV2) != 0)
                flags |= (ulong)InitFlags.HandleKillprivV2;
            reply.Flags = (uint)flags;
            if ((flags >> 32) != 0 && (kernel & (ulong)InitFlags.InitExt) != 0)
            {
                reply.Flags |= (uint)InitFlags.InitExt;
                reply.Flags2 = (uint)(flags >> 32);
            }
            reply.MaxReadahead = conn->MaxReadahead;
            reply.MaxWrite = maxWrite;
            uint background = Math.Min(conn->MaxBackground, ushort.MaxValue);
            uint congestion = Math.Min(conn->CongestionThreshold, background);
            if (congestion == 0) congestion = background * 3 / 4;
            reply.MaxBackground = (ushort)background;
            reply.CongestionThreshold = (ushort)congestion;
            reply.TimeGran = conn->TimeGran;
            return new Result(reply, want, maxWrite, 0);
        }
        finally { NativeMemory.Free(conn); }
    }
}
