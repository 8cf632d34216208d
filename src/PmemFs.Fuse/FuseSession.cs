using System.Runtime.InteropServices;
using System.Text;
using PmemFs.Fuse.Kernel;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse;

/// <summary>
/// A FUSE session: create it with the mount options, mount, run the loop until the file system
/// is unmounted, dispose. One per process. libfuse always parses the options and mounts;
/// <see cref="FuseTransport"/> says whether libfuse's loop or PmemFs's own (PmemFs.Fuse.Kernel)
/// then serves /dev/fuse.
/// </summary>
public sealed unsafe class FuseSession : IDisposable
{
    private readonly nint _session;
    private readonly LowLevelOps* _ops;
    private readonly LowLevelFileSystem _fs;
    private KernelChannel? _channel;
    private bool _mounted;
    private bool _disposed;

    private FuseSession(nint session, LowLevelOps* ops, LowLevelFileSystem fs, FuseTransport transport)
    {
        _session = session;
        _ops = ops;
        _fs = fs;
        Transport = transport;
    }

    public FuseTransport Transport { get; }

    /// <summary>-o debug: libfuse traces its own loop; the kernel transport traces in the same form to stderr (<see cref="DebugTrace"/>).</summary>
    private bool Debug { get; init; }

    /// <summary>
    /// Creates the session. <paramref name="mountOptions"/> are libfuse's -o options
    /// (fsname=, subtype=, allow_other, default_permissions, ro, ...); libfuse rejects unknown ones.
    /// </summary>
    public static FuseSession Create(LowLevelFileSystem fs, IEnumerable<string> mountOptions, string programName = "pmemfs",
        FuseTransport transport = FuseTransport.LibFuse)
    {
        StructLayout.Verify();
        var argv = new List<string> { programName };
        string joined = string.Join(',', mountOptions.Select(EscapeOption));
        if (joined.Length > 0) argv.AddRange(["-o", joined]);

        var ops = (LowLevelOps*)NativeMemory.AllocZeroed((nuint)sizeof(LowLevelOps));
        *ops = Dispatch.Table(fs);
        // fuse_session_new keeps pointers into argv only while parsing; free it afterwards.
        var strings = new nint[argv.Count];
        var vector = (byte**)NativeMemory.AllocZeroed((nuint)(argv.Count + 1), (nuint)sizeof(nint));
        try
        {
            for (int i = 0; i < argv.Count; i++)
            {
                strings[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
                vector[i] = (byte*)strings[i];
            }
            var args = new FuseArgs { Argc = argv.Count, Argv = vector, Allocated = 0 };
            nint se = LibFuse.SessionNew(&args, ops, (nuint)sizeof(LowLevelOps), null);
            if (se == 0)
            {
                NativeMemory.Free(ops);
                throw new FuseException($"libfuse refused the mount options '{joined}'");
            }
            return new FuseSession(se, ops, fs, transport) { Debug = mountOptions.Contains("debug") };
        }
        finally
        {
            foreach (var s in strings) Marshal.FreeCoTaskMem(s);
            NativeMemory.Free(vector);
        }
    }

    /// <summary>libfuse splits -o on commas; a comma inside a value is escaped with a backslash.</summary>
    private static string EscapeOption(string option) => option.Replace("\\", "\\\\").Replace(",", "\\,");

    /// <summary>Mounts at <paramref name="mountpoint"/>; requests queue from here until the loop runs.</summary>
    public void Mount(string mountpoint)
    {
        byte[] path = Encoding.UTF8.GetBytes(mountpoint + "\0");
        fixed (byte* p = path)
        {
            if (LibFuse.SessionMount(_session, p) != 0)
                throw new FuseException($"cannot mount on {mountpoint} (libfuse logged why above)");
        }
        _mounted = true;
    }

    /// <summary>The /dev/fuse descriptor of this session.</summary>
    public int FileDescriptor => LibFuse.SessionFd(_session);

    /// <summary>
    /// Serves requests until the file system is unmounted. <paramref name="maxThreads"/> 1 runs
    /// the single-threaded loop; otherwise worker threads are kept alive (idle threads &gt; 0:
    /// thread churn costs several times the throughput).
    /// </summary>
    public int Run(int maxThreads, int maxIdleThreads)
    {
        if (Transport == FuseTransport.Kernel)
        {
            // libfuse only mounted: its loop (and so its INIT) never runs on this descriptor.
            _channel = new KernelChannel(FileDescriptor);
            KernelChannel.Current = _channel;
            if (Debug) DebugTrace.Current = new DebugTrace();
            return new KernelLoop(_fs, _channel).Run(Math.Max(1, maxThreads));
        }
        if (maxThreads <= 1) return LibFuse.SessionLoop(_session);
        nint config = LibFuse.LoopConfigCreate();
        try
        {
            LibFuse.LoopConfigSetCloneFd(config, 0);
            LibFuse.LoopConfigSetMaxThreads(config, (uint)maxThreads);
            LibFuse.LoopConfigSetIdleThreads(config, (uint)Math.Clamp(maxIdleThreads, 1, maxThreads));
            return LibFuse.SessionLoopMt(_session, config);
        }
        finally { LibFuse.LoopConfigDestroy(config); }
    }

    /// <summary>Tells the loop to stop (in-flight requests are aborted: prefer a detach unmount).</summary>
    public void Exit()
    {
        if (_channel is not null) _channel.Ended = true;
        else LibFuse.SessionExit(_session);
    }

    /// <summary>Drops cached data and attributes of an inode (offset 0, length 0 = attributes and all data).</summary>
    public int InvalidateInode(ulong ino, long offset, long length) =>
        Transport == FuseTransport.Kernel
            ? _channel?.InvalidateInode(ino, offset, length) ?? -Posix.ENOTCONN
            : LibFuse.NotifyInvalInode(_session, ino, offset, length);

    /// <summary>Drops a cached name (a change the kernel did not make itself).</summary>
    public int InvalidateEntry(ulong parent, ReadOnlySpan<byte> name)
    {
        if (Transport == FuseTransport.Kernel) return _channel?.InvalidateEntry(parent, name) ?? -Posix.ENOTCONN;
        fixed (byte* n = name) return LibFuse.NotifyInvalEntry(_session, parent, n, (nuint)name.Length);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // What libfuse's fuse_session_destroy does for its own loop: destroy once, if INIT came and DESTROY did not.
        if (_channel is { Initialized: true, Destroyed: false })
        {
            _channel.Destroyed = true;
            try { _fs.Destroy(); } catch (Exception e) { _fs.OnUnhandledException(nameof(LowLevelFileSystem.Destroy), e); }
        }
        if (_channel is not null && KernelChannel.Current == _channel) KernelChannel.Current = null;
        if (_mounted) LibFuse.SessionUnmount(_session);
        LibFuse.SessionDestroy(_session);
        NativeMemory.Free(_ops);
    }
}

public sealed class FuseException(string message) : Exception(message);
