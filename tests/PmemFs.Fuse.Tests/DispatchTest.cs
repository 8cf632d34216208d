using System.Runtime.InteropServices;
using System.Text;
using PmemFs.Fuse.Kernel;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Tests;

/// <summary>The kernel transport end to end over a fake /dev/fuse: requests parsed into the LowLevelFileSystem calls libfuse makes, replies encoded as the kernel reads them.</summary>
public unsafe class DispatchTest
{
    private sealed class Recorder : LowLevelFileSystem
    {
        public readonly List<string> Calls = [];
        public bool Quiet;
        public FuseRequest Parked;
        public FuseContext LastContext;
        public bool LastInterrupted;
        public uint InitMaxWrite = 1 << 20;
        public uint InitWantOff;

        public override void Init(FuseConnInfo* conn)
        {
            Calls.Add($"init {conn->ProtoMajor}.{conn->ProtoMinor} capable=0x{conn->Capable:x} want=0x{conn->Want:x}");
            conn->Want &= ~InitWantOff;
            conn->MaxWrite = InitMaxWrite;
            conn->MaxReadahead = 1 << 20;
        }

        public override void Lookup(FuseRequest req, ulong parent, ReadOnlySpan<byte> name)
        {
            if (!Quiet) Calls.Add($"lookup {parent} {Encoding.UTF8.GetString(name)}");
            req.ReplyEntry(new FuseEntryParam { Ino = 7, Generation = 3, AttrTimeout = 1.5, EntryTimeout = 2, Attr = new Stat { Ino = 7, Mode = 0x81A4, Nlink = 1, Size = 12345, Uid = 5, Gid = 6, MtimeSec = 100, MtimeNsec = 200 } });
        }

        public override void GetAttr(FuseRequest req, ulong ino, FuseFileInfo* fi) =>
            req.ReplyAttr(new Stat { Ino = ino, Mode = 0x41ED, Nlink = 2 }, 1.0);

        public override void Write(FuseRequest req, ulong ino, ReadOnlySpan<byte> data, long offset, FuseFileInfo* fi)
        {
            if (!Quiet) Calls.Add($"write {ino} {data.Length}@{offset} fh={fi->Fh} writepage={fi->IsWritePage} flags={fi->Flags} first={data[0]}");
            LastContext = req.Context;
            req.ReplyWrite(data.Length);
        }

        public override void Create(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, uint mode, FuseFileInfo* fi)
        {
            LastContext = req.Context;
            Calls.Add($"create {parent} {Encoding.UTF8.GetString(name)} mode={Convert.ToString(mode, 8)} flags={fi->Flags}");
            fi->Fh = 99;
            fi->Bits |= FuseFileInfo.KeepCache;
            req.ReplyCreate(new FuseEntryParam { Ino = 8, Attr = new Stat { Ino = 8, Mode = mode } }, fi);
        }

        public override void TmpFile(FuseRequest req, ulong parent, uint mode, FuseFileInfo* fi)
        {
            LastContext = req.Context;
            Calls.Add($"tmpfile {parent} mode={Convert.ToString(mode, 8)} flags={fi->Flags}");
            fi->Fh = 98;
            req.ReplyCreate(new FuseEntryParam { Ino = 9, Attr = new Stat { Ino = 9, Mode = mode, Nlink = 0 } }, fi);
        }

        public override void Symlink(FuseRequest req, ReadOnlySpan<byte> target, ulong parent, ReadOnlySpan<byte> name)
        {
            Calls.Add($"symlink {Encoding.UTF8.GetString(target)} {parent} {Encoding.UTF8.GetString(name)}");
            req.ReplyError(17);
        }

        public override void Rename(FuseRequest req, ulong parent, ReadOnlySpan<byte> name, ulong newParent, ReadOnlySpan<byte> newName, uint flags)
        {
            Calls.Add($"rename {parent}/{Encoding.UTF8.GetString(name)} {newParent}/{Encoding.UTF8.GetString(newName)} flags={flags}");
            req.ReplyError(0);
        }

        public override void SetAttr(FuseRequest req, ulong ino, Stat* attr, int toSet, FuseFileInfo* fi)
        {
            Calls.Add($"setattr {ino} toSet=0x{toSet:x} size={attr->Size} mode={Convert.ToString(attr->Mode, 8)} fh={(fi == null ? "none" : fi->Fh.ToString())}");
            req.ReplyAttr(*attr, 0);
        }

        public override void Fsync(FuseRequest req, ulong ino, bool dataOnly, FuseFileInfo* fi)
        {
            // Parked: answered later, from another thread.
            Parked = req;
            LastInterrupted = req.Interrupted;
        }

        public override void ReadDir(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi)
        {
            Span<byte> buf = stackalloc byte[(int)size];
            int used = 0;
            Assert.True(req.AddDirectoryEntry(buf, ref used, "."u8, 1, 0x4000, 1));
            Assert.True(req.AddDirectoryEntry(buf, ref used, "file"u8, 9, 0x8000, 2));
            Assert.False(req.AddDirectoryEntry(buf, ref used, "does-not-fit-anymore"u8, 10, 0x8000, 3));
            req.ReplyBuffer(buf[..used]);
        }

        public override void Ioctl(FuseRequest req, ulong ino, uint cmd, nint arg, FuseFileInfo* fi, uint flags, ReadOnlySpan<byte> input, long outSize)
        {
            Calls.Add($"ioctl {ino} cmd=0x{cmd:x} in={input.Length} out={outSize} flags={flags}");
            req.ReplyIoctl(7, [1, 2, 3, 4]);
        }

        public override void StatFs(FuseRequest req, ulong ino) => throw new InvalidOperationException("boom");

        public override void Forget(ulong ino, ulong nlookup) => Calls.Add($"forget {ino} {nlookup}");
    }

    [Fact]
    public void Init_speaks_7_45_adds_killpriv_v2_and_keeps_what_the_file_system_refused_off()
    {
        var fs = new Recorder { InitMaxWrite = 128 * 1024, InitWantOff = (uint)FuseCapabilities.AtomicOTrunc };
        using var wire = new Wire(fs, initialized: false);
        var kernelFlags = InitFlags.AsyncRead | InitFlags.AtomicOTrunc | InitFlags.HasIoctlDir | InitFlags.DoReaddirplus | InitFlags.ReaddirplusAuto
            | InitFlags.WritebackCache | InitFlags.HandleKillpriv | InitFlags.HandleKillprivV2 | InitFlags.MaxPages | InitFlags.InitExt | InitFlags.ParallelDirops;
        wire.Send(Opcode.Init, 0, new InitIn { Major = 7, Minor = 45, MaxReadahead = 128 * 1024, Flags = (uint)kernelFlags, Flags2 = (uint)((ulong)InitFlags.OverIoUring >> 32) });
        var (h, arg) = wire.Receive();
        Assert.Equal(0, h.Error);
        var o = Wire.As<InitOut>(arg);
        Assert.Equal(7u, o.Major);
        Assert.Equal(45u, o.Minor);
        var flags = (InitFlags)o.Flags;
        Assert.True(flags.HasFlag(InitFlags.HandleKillprivV2));
        Assert.True(flags.HasFlag(InitFlags.HandleKillpriv));
        Assert.True(flags.HasFlag(InitFlags.AsyncRead));
        Assert.True(flags.HasFlag(InitFlags.DoReaddirplus));
        Assert.True(flags.HasFlag(InitFlags.HasIoctlDir));
        Assert.False(flags.HasFlag(InitFlags.WritebackCache)); // libfuse's defaults never ask for it
        Assert.False(flags.HasFlag(InitFlags.AtomicOTrunc));   // the file system turned it off
        Assert.Equal(128u * 1024, o.MaxWrite);
        Assert.Equal(32, o.MaxPages);
        Assert.Equal(1u << 20, o.MaxReadahead);
        Assert.Equal(1u, o.TimeGran);
        Assert.True(wire.Channel.Initialized);
        Assert.StartsWith("init 7.45", fs.Calls[0]);
    }

    [Fact]
    public void Older_kernel_gets_its_own_minor_and_no_killpriv_v2()
    {
        using var wire = new Wire(new Recorder(), initialized: false);
        wire.Send(Opcode.Init, 0, new InitIn { Major = 7, Minor = 31, Flags = (uint)(InitFlags.AsyncRead | InitFlags.HandleKillpriv) });
        var o = Wire.As<InitOut>(wire.Receive().Arg);
        Assert.Equal(31u, o.Minor);
        Assert.False(((InitFlags)o.Flags).HasFlag(InitFlags.HandleKillprivV2));
    }

    [Fact]
    public void Requests_before_init_get_EIO()
    {
        using var wire = new Wire(new Recorder(), initialized: false);
        wire.SendNames(Opcode.Lookup, 1, "x");
        Assert.Equal(-5, wire.Receive().Header.Error);
    }

    [Fact]
    public void Write_hands_over_data_offset_fh_and_the_writepage_bit()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        var data = new byte[4096];
        data[0] = 0xAB;
        wire.Send(Opcode.Write, 5, new WriteIn { Fh = 77, Offset = 8192, Size = 4096, WriteFlags = ProtocolFlags.WriteCache | ProtocolFlags.WriteKillSuidgid, Flags = 2 }, data, uid: 0, gid: 0, pid: 0);
        Assert.Equal("write 5 4096@8192 fh=77 writepage=True flags=2 first=171", fs.Calls[^1]);
        Assert.Equal(0, fs.LastContext.Pid);
        var (h, arg) = wire.Receive();
        Assert.Equal(wire.LastUnique, h.Unique);
        Assert.Equal(0, h.Error);
        Assert.Equal(4096u, Wire.As<WriteOut>(arg).Size);
    }

    [Fact]
    public void Lookup_reply_is_an_entry_out_with_libfuse_timeouts()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.SendNames(Opcode.Lookup, 1, "name");
        Assert.Equal("lookup 1 name", fs.Calls[^1]);
        var e = Wire.As<EntryOut>(wire.Receive().Arg);
        Assert.Equal(7ul, e.NodeId);
        Assert.Equal(3ul, e.Generation);
        Assert.Equal(2ul, e.EntryValid);
        Assert.Equal(1ul, e.AttrValid);
        Assert.Equal(500_000_000u, e.AttrValidNsec);
        Assert.Equal(0x81A4u, e.Attr.Mode);
        Assert.Equal(12345ul, e.Attr.Size);
        Assert.Equal(200u, e.Attr.MtimeNsec);
    }

    [Fact]
    public void Create_takes_the_umask_into_the_context_and_replies_entry_and_open()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.Create, 1, new CreateIn { Flags = 0x241, Mode = 0x81B6, Umask = 0x12 }, "new\0"u8, uid: 1234, gid: 99, pid: 555);
        Assert.Equal("create 1 new mode=100666 flags=577", fs.Calls[^1]);
        Assert.Equal(new FuseContext { Uid = 1234, Gid = 99, Pid = 555, Umask = 0x12 }, fs.LastContext);
        var c = Wire.As<CreateOut>(wire.Receive().Arg);
        Assert.Equal(8ul, c.Entry.NodeId);
        Assert.Equal(99ul, c.Open.Fh);
        Assert.Equal(ProtocolFlags.FopenKeepCache, c.Open.OpenFlags);
    }

    [Fact]
    public void TmpFile_passes_mode_flags_and_umask_and_replies_as_create()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.TmpFile, 1, new CreateIn { Flags = 0x410002, Mode = 0x8180, Umask = 0x12 }, "/\0"u8, uid: 7, gid: 8, pid: 9);
        Assert.Equal("tmpfile 1 mode=100600 flags=4259842", fs.Calls[^1]);
        Assert.Equal(new FuseContext { Uid = 7, Gid = 8, Pid = 9, Umask = 0x12 }, fs.LastContext);
        var c = Wire.As<CreateOut>(wire.Receive().Arg);
        Assert.Equal(9ul, c.Entry.NodeId);
        Assert.Equal(0u, c.Entry.Attr.Nlink);
        Assert.Equal(98ul, c.Open.Fh);
    }

    [Fact]
    public void Symlink_and_rename_names_are_split_as_libfuse_does()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.SendNames(Opcode.Symlink, 1, "link", "target/path");
        Assert.Equal("symlink target/path 1 link", fs.Calls[^1]);
        Assert.Equal(-17, wire.Receive().Header.Error);
        wire.Send(Opcode.Rename2, 1, new Rename2In { NewDir = 4, Flags = 2 }, "a\0b\0"u8);
        Assert.Equal("rename 1/a 4/b flags=2", fs.Calls[^1]);
        Assert.Equal(0, wire.Receive().Header.Error);
    }

    [Fact]
    public void Setattr_masks_the_valid_bits_and_passes_fh_as_file_info()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.SetAttr, 3, new SetAttrIn { Valid = (1 << 3) | ProtocolFlags.FattrFh | ProtocolFlags.FattrKillSuidgid | (1 << 9), Fh = 12, Size = 4096 });
        Assert.Equal("setattr 3 toSet=0x8 size=4096 mode=0 fh=12", fs.Calls[^1]);
        wire.Receive();
    }

    [Fact]
    public void Killpriv_v2_chown_of_a_setid_file_gets_the_mode_change_the_kernel_used_to_add()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        // The kernel is told the file is 06755 (a setattr reply), then chowns it with FATTR_KILL_SUIDGID.
        wire.Send(Opcode.SetAttr, 42, new SetAttrIn { Valid = 1, Mode = 0x8000 | 0xDED });
        wire.Receive();
        wire.Send(Opcode.SetAttr, 42, new SetAttrIn { Valid = (1 << 1) | (1 << 2) | ProtocolFlags.FattrKillSuidgid, Uid = 1000, Gid = 1000 });
        Assert.Equal("setattr 42 toSet=0x7 size=0 mode=100755 fh=none", fs.Calls[^1]);
        wire.Receive();
        // Without the flag (CAP_FSETID, or a directory) nothing is added.
        wire.Send(Opcode.SetAttr, 43, new SetAttrIn { Valid = 1, Mode = 0x8000 | 0xDED });
        wire.Receive();
        wire.Send(Opcode.SetAttr, 43, new SetAttrIn { Valid = 1 << 3, Size = 0 });
        Assert.Equal("setattr 43 toSet=0x8 size=0 mode=0 fh=none", fs.Calls[^1]);
        wire.Receive();
    }

    private sealed class StatxRecorder : LowLevelFileSystem
    {
        public string? Call;

        public override void Statx(FuseRequest req, ulong ino, uint flags, uint mask, FuseFileInfo* fi)
        {
            Call = $"statx {ino} flags=0x{flags:x} mask=0x{mask:x} fh={(fi == null ? "none" : fi->Fh.ToString())}";
            // A character device 259:65536 (glibc dev_t: major in bits 8-19 and 32-43, minor in 0-7 and 20-31).
            ulong rdev = (259UL & 0xFFF) << 8 | (65536UL & 0xFF) | (65536UL & ~0xFFUL) << 12;
            req.ReplyStatx(new Stat { Ino = ino, Mode = 0x21A4, Nlink = 1, Size = 0, BlkSize = 4096, Rdev = rdev, MtimeSec = 100, MtimeNsec = 200 },
                btimeSec: -2, btimeNsec: 500_000_000, timeout: 2.5);
        }
    }

    [Fact]
    public void Statx_passes_the_mask_and_handle_and_replies_with_the_birth_time()
    {
        var fs = new StatxRecorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.Statx, 9, new StatxIn { GetattrFlags = ProtocolFlags.GetattrFh, Fh = 77, SxFlags = 0x800, SxMask = 0xFFF });
        Assert.Equal("statx 9 flags=0x800 mask=0xfff fh=77", fs.Call);
        var (header, arg) = wire.Receive();
        Assert.Equal(0, header.Error);
        Assert.Equal(Marshal.SizeOf<StatxOut>(), arg.Length);
        var o = Wire.As<StatxOut>(arg);
        Assert.Equal(2UL, o.AttrValid);
        Assert.Equal(500_000_000u, o.AttrValidNsec);
        Assert.Equal(0xFFFu, o.Stat.Mask); // STATX_BASIC_STATS | STATX_BTIME
        Assert.Equal(9UL, o.Stat.Ino);
        Assert.Equal((ushort)0x21A4, o.Stat.Mode);
        Assert.Equal((100L, 200u), (o.Stat.Mtime.Sec, o.Stat.Mtime.Nsec));
        Assert.Equal((-2L, 500_000_000u), (o.Stat.Btime.Sec, o.Stat.Btime.Nsec));
        Assert.Equal((259u, 65536u), (o.Stat.RdevMajor, o.Stat.RdevMinor));
        // Without FUSE_GETATTR_FH there is no handle.
        wire.Send(Opcode.Statx, 9, new StatxIn { SxMask = 0x800 });
        Assert.Equal("statx 9 flags=0x0 mask=0x800 fh=none", fs.Call);
        wire.Receive();
    }

    [Fact]
    public void Unknown_and_unimplemented_opcodes_get_ENOSYS_and_exceptions_EIO()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.Statx, 1, new StatxIn()); // the Recorder has no Statx: the default answers ENOSYS
        Assert.Equal(-38, wire.Receive().Header.Error);
        wire.Send(Opcode.Bmap, 1, new GetAttrIn());
        Assert.Equal(-38, wire.Receive().Header.Error);
        wire.Send((Opcode)4000, 1, new GetAttrIn());
        Assert.Equal(-38, wire.Receive().Header.Error);
        wire.Send(Opcode.StatFs, 1, new Empty());
        Assert.Equal(-5, wire.Receive().Header.Error);
    }

    [Fact]
    public void A_parked_request_keeps_its_slot_and_is_answered_later_from_another_thread()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        var before = (nint)wire.Slot;
        Assert.True(wire.Send(Opcode.Fsync, 3, new FsyncIn { Fh = 1 }));
        ulong parkedUnique = wire.LastUnique;
        Assert.NotEqual(before, (nint)wire.Slot); // the worker moved on to a new slot
        // Another request goes through meanwhile.
        wire.SendNames(Opcode.Lookup, 1, "x");
        Assert.Equal(wire.LastUnique, wire.Receive().Header.Unique);
        var parked = fs.Parked;
        var t = new Thread(() => parked.ReplyError(0));
        t.Start();
        t.Join();
        var (h, _) = wire.Receive();
        Assert.Equal(parkedUnique, h.Unique);
        Assert.Equal(0, h.Error);
    }

    [Fact]
    public void Interrupt_marks_the_request_it_names()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.Interrupt, 0, new InterruptIn { Unique = wire.LastUnique + 2 });
        wire.Send(Opcode.Fsync, 3, new FsyncIn { Fh = 1 });
        Assert.True(fs.LastInterrupted);
        fs.Parked.ReplyError(4);
        Assert.Equal(-4, wire.Receive().Header.Error);
        wire.Send(Opcode.Fsync, 3, new FsyncIn { Fh = 1 });
        Assert.False(fs.LastInterrupted);
        fs.Parked.ReplyError(0);
        wire.Receive();
    }

    [Fact]
    public void Readdir_entries_are_fuse_dirents_padded_to_8()
    {
        using var wire = new Wire(new Recorder());
        wire.Send(Opcode.ReadDir, 1, new ReadIn { Size = 80 });
        var arg = wire.Receive().Arg;
        Assert.Equal(32 + 32, arg.Length);
        var first = Wire.As<Dirent>(arg);
        Assert.Equal(1ul, first.Ino);
        Assert.Equal(1ul, first.Off);
        Assert.Equal(1u, first.NameLen);
        Assert.Equal(4u, first.Type);
        var second = Wire.As<Dirent>(arg[32..]);
        Assert.Equal(9ul, second.Ino);
        Assert.Equal(8u, second.Type);
        Assert.Equal("file", Encoding.ASCII.GetString(arg, 32 + 24, 4));
    }

    [Fact]
    public void Ioctl_passes_sizes_and_returns_result_and_output()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        wire.Send(Opcode.Ioctl, 2, new IoctlIn { Cmd = 0xC0105001, InSize = 16, OutSize = 4, Flags = ProtocolFlags.IoctlDir }, new byte[16]);
        Assert.Equal("ioctl 2 cmd=0xc0105001 in=16 out=4 flags=16", fs.Calls[^1]);
        var arg = wire.Receive().Arg;
        Assert.Equal(7, Wire.As<IoctlOut>(arg).Result);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, arg[16..]);
    }

    [Fact]
    public void Forgets_get_no_reply()
    {
        var fs = new Recorder();
        using var wire = new Wire(fs);
        Assert.False(wire.Send(Opcode.Forget, 9, new ForgetIn { Nlookup = 2 }));
        var batch = new byte[32];
        BitConverter.TryWriteBytes(batch.AsSpan(0), 10ul);
        BitConverter.TryWriteBytes(batch.AsSpan(8), 1ul);
        BitConverter.TryWriteBytes(batch.AsSpan(16), 11ul);
        BitConverter.TryWriteBytes(batch.AsSpan(24), 3ul);
        wire.Send(Opcode.BatchForget, 0, new BatchForgetIn { Count = 2 }, batch);
        Assert.Equal(["forget 9 2", "forget 10 1", "forget 11 3"], fs.Calls);
    }

    [Fact]
    public void Notifications_are_unique_0_with_the_notify_code()
    {
        using var wire = new Wire(new Recorder());
        Assert.Equal(0, wire.Channel.InvalidateInode(5, -1, 0));
        var (h, arg) = wire.Receive();
        Assert.Equal(0ul, h.Unique);
        Assert.Equal((int)NotifyCode.InvalInode, h.Error);
        Assert.Equal(5ul, Wire.As<NotifyInvalInodeOut>(arg).Ino);
        Assert.Equal(-1L, Wire.As<NotifyInvalInodeOut>(arg).Off);
        Assert.Equal(0, wire.Channel.InvalidateEntry(1, "gone"u8));
        (h, arg) = wire.Receive();
        Assert.Equal((int)NotifyCode.InvalEntry, h.Error);
        Assert.Equal(4u, Wire.As<NotifyInvalEntryOut>(arg).NameLen);
        Assert.Equal("gone\0", Encoding.ASCII.GetString(arg, 16, 5));
        KernelChannel.Current = wire.Channel;
        try
        {
            Assert.Equal(0, new FusePollHandle(KernelChannel.PollHandle(1234)).Notify());
            (h, arg) = wire.Receive();
            Assert.Equal((int)NotifyCode.Poll, h.Error);
            Assert.Equal(1234ul, Wire.As<NotifyPollWakeupOut>(arg).Kh);
        }
        finally { KernelChannel.Current = null; }
    }

    [Fact]
    public void Getattr_lookup_and_write_allocate_nothing_on_the_heap()
    {
        var fs = new Recorder { Quiet = true };
        using var wire = new Wire(fs);
        var data = new byte[4096];
        // Warm up (JIT, first-call allocations), then count.
        for (int i = 0; i < 10; i++)
        {
            wire.Send(Opcode.GetAttr, 1, new GetAttrIn());
            wire.Receive();
        }
        var buf = new byte[65536];
        var writeArg = new WriteIn { Fh = 1, Size = 4096 };
        var name = "name\0"u8.ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        const int Rounds = 3000;
        for (int i = 0; i < Rounds; i++)
        {
            wire.Send(Opcode.GetAttr, 1, new GetAttrIn());
            Drain(wire, buf);
            wire.Send(Opcode.Lookup, 1, new Empty(), name);
            Drain(wire, buf);
            wire.Send(Opcode.Write, 1, writeArg, data);
            Drain(wire, buf);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Nothing per request (a few bytes once, from the runtime's tiering, are not the transport's).
        Assert.True(allocated < Rounds, $"{allocated} bytes allocated for {3 * Rounds} requests");
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern nint read(int fd, byte* buf, nuint count);

    private static void Drain(Wire wire, byte[] buf)
    {
        fixed (byte* b = buf) read(wire.KernelFd, b, (nuint)buf.Length);
    }
}
