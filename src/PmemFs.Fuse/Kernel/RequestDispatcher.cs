using System.Runtime.InteropServices;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse.Kernel;

/// <summary>
/// Parses one request read from /dev/fuse and calls the matching <see cref="LowLevelFileSystem"/>
/// method with the arguments libfuse 3.14's do_* functions would build. Opcodes the file system
/// has no method for get ENOSYS. An escaping exception is logged and answered with EIO.
/// </summary>
internal sealed unsafe class RequestDispatcher(LowLevelFileSystem fs, KernelChannel channel)
{
    /// <summary>Handles the request in <paramref name="buf"/> (<paramref name="n"/> bytes read). Returns whether the handler may still answer it later (the slot must be kept).</summary>
    public bool Process(RequestSlot* slot, byte* buf, int n)
    {
        if (n < sizeof(InHeader)) return false;
        var h = (InHeader*)buf;
        DebugTrace.Current?.Request(h, n);
        var op = (Opcode)h->Opcode;
        slot->Unique = h->Unique;
        slot->Opcode = op;
        slot->NodeId = h->NodeId;
        slot->State = RequestSlot.InHandler;
        slot->Context = new FuseContext { Uid = h->Uid, Gid = h->Gid, Pid = (int)h->Pid, Umask = 0 };
        slot->File = default;
        byte* p = buf + sizeof(InHeader);
        // Extensions (security context, supplementary groups) are not negotiated; none to skip.
        int size = Math.Min((int)h->Len, n) - sizeof(InHeader) - h->TotalExtLen * 8;
        ulong ino = h->NodeId;
        var req = new FuseRequest(RequestSlot.Handle(slot));
        Dispatch.Answered = false;
        try
        {
            if (!channel.Initialized && op != Opcode.Init)
            {
                KernelReply.Error(slot, Posix.EIO);
                return false;
            }
            switch (op)
            {
                case Opcode.Forget:
                    if (size >= sizeof(ForgetIn)) fs.Forget(ino, ((ForgetIn*)p)->Nlookup);
                    return false;
                case Opcode.BatchForget:
                    BatchForget(p, size);
                    return false;
                case Opcode.Interrupt:
                    if (size >= sizeof(InterruptIn)) Interrupts.Add(((InterruptIn*)p)->Unique);
                    return false;
                case Opcode.NotifyReply:
                    return false; // never asked for (no FUSE_NOTIFY_RETRIEVE is sent); expects no reply
            }
            if (size < InSize(op))
            {
                KernelReply.Error(slot, Posix.EIO);
                return false;
            }
            Handle(req, slot, op, ino, p, size);
            // The file system cleared suid/sgid itself (HANDLE_KILLPRIV_V2) in a reply without attributes.
            if (op is Opcode.Write or Opcode.Fallocate && SetIdInodes.Take(ino)) channel.InvalidateInode(ino, -1, 0);
        }
        catch (Exception e)
        {
            try { fs.OnUnhandledException(op.ToString(), e); } catch { /* logging must not kill the daemon */ }
            if (!Dispatch.Answered) req.ReplyError(Posix.EIO);
        }
        return !Dispatch.Answered;
    }

    private void BatchForget(byte* p, int size)
    {
        if (size < sizeof(BatchForgetIn)) return;
        uint count = ((BatchForgetIn*)p)->Count;
        var one = (ForgetOne*)(p + sizeof(BatchForgetIn));
        long room = (size - sizeof(BatchForgetIn)) / sizeof(ForgetOne);
        for (uint i = 0; i < count && i < room; i++)
        {
            try { fs.Forget(one[i].NodeId, one[i].Nlookup); }
            catch (Exception e) { fs.OnUnhandledException(nameof(Opcode.BatchForget), e); }
        }
    }

    /// <summary>The fixed argument each opcode carries (names and data follow it).</summary>
    private static int InSize(Opcode op) => op switch
    {
        Opcode.Init => sizeof(uint) * 4,
        Opcode.GetAttr => sizeof(GetAttrIn),
        Opcode.Statx => sizeof(StatxIn),
        Opcode.TmpFile => sizeof(CreateIn),
        Opcode.SetAttr => sizeof(SetAttrIn),
        Opcode.MkNod => sizeof(MkNodIn),
        Opcode.MkDir => sizeof(MkDirIn),
        Opcode.Rename => sizeof(RenameIn),
        Opcode.Rename2 => sizeof(Rename2In),
        Opcode.Link => sizeof(LinkIn),
        Opcode.Open or Opcode.OpenDir => sizeof(OpenIn),
        Opcode.Create => sizeof(CreateIn),
        Opcode.Read or Opcode.ReadDir or Opcode.ReadDirPlus => sizeof(ReadIn),
        Opcode.Write => sizeof(WriteIn),
        Opcode.Flush => sizeof(FlushIn),
        Opcode.Release or Opcode.ReleaseDir => sizeof(ReleaseIn),
        Opcode.Fsync or Opcode.FsyncDir => sizeof(FsyncIn),
        Opcode.SetXattr => sizeof(SetXattrIn),
        Opcode.GetXattr or Opcode.ListXattr => sizeof(GetXattrIn),
        Opcode.Access => sizeof(AccessIn),
        Opcode.Ioctl => sizeof(IoctlIn),
        Opcode.Poll => sizeof(PollIn),
        Opcode.Fallocate => sizeof(FallocateIn),
        Opcode.Lseek => sizeof(LseekIn),
        Opcode.CopyFileRange or Opcode.CopyFileRange64 => sizeof(CopyFileRangeIn),
        _ => 0,
    };

    private static ReadOnlySpan<byte> Name(byte* p) => MemoryMarshal.CreateReadOnlySpanFromNullTerminated(p);

    private void Handle(FuseRequest req, RequestSlot* slot, Opcode op, ulong ino, byte* p, int size)
    {
        FuseFileInfo* fi = &slot->File;
        switch (op)
        {
            case Opcode.Init: Init(slot, (InitIn*)p, size); break;
            case Opcode.Destroy:
                channel.Destroyed = true;
                fs.Destroy();
                req.ReplyError(0);
                break;
            case Opcode.Lookup: fs.Lookup(req, ino, Name(p)); break;
            case Opcode.GetAttr:
            {
                var a = (GetAttrIn*)p;
                if ((a->GetattrFlags & ProtocolFlags.GetattrFh) != 0) fi->Fh = a->Fh;
                else fi = null;
                fs.GetAttr(req, ino, fi);
                break;
            }
            case Opcode.Statx:
            {
                var a = (StatxIn*)p;
                if ((a->GetattrFlags & ProtocolFlags.GetattrFh) != 0) fi->Fh = a->Fh;
                else fi = null;
                fs.Statx(req, ino, a->SxFlags, a->SxMask, fi);
                break;
            }
            case Opcode.SetAttr:
            {
                var a = (SetAttrIn*)p;
                ReplyEncoding.FillSetAttrStat(*a, out var st);
                if ((a->Valid & ProtocolFlags.FattrFh) != 0) fi->Fh = a->Fh;
                else fi = null;
                int toSet = (int)a->Valid & ProtocolFlags.SetAttrMask;
                // HANDLE_KILLPRIV_V2: the kernel no longer adds the mode change itself.
                if ((a->Valid & ProtocolFlags.FattrKillSuidgid) != 0 && (toSet & ProtocolFlags.SetAttrModeBit) == 0
                    && SetIdInodes.KilledMode(ino, out uint killed))
                {
                    st.Mode = killed;
                    toSet |= ProtocolFlags.SetAttrModeBit;
                }
                fs.SetAttr(req, ino, &st, toSet, fi);
                break;
            }
            case Opcode.ReadLink: fs.ReadLink(req, ino); break;
            case Opcode.MkNod:
            {
                var a = (MkNodIn*)p;
                slot->Context.Umask = a->Umask;
                fs.MkNod(req, ino, Name(p + sizeof(MkNodIn)), a->Mode, a->Rdev);
                break;
            }
            case Opcode.MkDir:
            {
                var a = (MkDirIn*)p;
                slot->Context.Umask = a->Umask;
                fs.MkDir(req, ino, Name(p + sizeof(MkDirIn)), a->Mode);
                break;
            }
            case Opcode.Unlink: fs.Unlink(req, ino, Name(p)); break;
            case Opcode.RmDir: fs.RmDir(req, ino, Name(p)); break;
            case Opcode.Symlink:
            {
                var name = Name(p);
                fs.Symlink(req, Name(p + name.Length + 1), ino, name);
                break;
            }
            case Opcode.Rename:
            {
                var name = Name(p + sizeof(RenameIn));
                fs.Rename(req, ino, name, ((RenameIn*)p)->NewDir, Name(p + sizeof(RenameIn) + name.Length + 1), 0);
                break;
            }
            case Opcode.Rename2:
            {
                var a = (Rename2In*)p;
                var name = Name(p + sizeof(Rename2In));
                fs.Rename(req, ino, name, a->NewDir, Name(p + sizeof(Rename2In) + name.Length + 1), a->Flags);
                break;
            }
            case Opcode.Link: fs.Link(req, ((LinkIn*)p)->OldNodeId, ino, Name(p + sizeof(LinkIn))); break;
            case Opcode.Open:
                fi->Flags = (int)((OpenIn*)p)->Flags;
                fs.Open(req, ino, fi);
                break;
            case Opcode.OpenDir:
                fi->Flags = (int)((OpenIn*)p)->Flags;
                fs.OpenDir(req, ino, fi);
                break;
            case Opcode.Create:
            {
                var a = (CreateIn*)p;
                fi->Flags = (int)a->Flags;
                slot->Context.Umask = a->Umask;
                fs.Create(req, ino, Name(p + sizeof(CreateIn)), a->Mode, fi);
                break;
            }
            case Opcode.TmpFile:
            {
                // fuse_create_in and the dentry's name ("/", meaningless): the reply is CREATE's.
                var a = (CreateIn*)p;
                fi->Flags = (int)a->Flags;
                slot->Context.Umask = a->Umask;
                fs.TmpFile(req, ino, a->Mode, fi);
                break;
            }
            case Opcode.Read:
            {
                var a = (ReadIn*)p;
                fi->Fh = a->Fh;
                fi->LockOwner = a->LockOwner;
                fi->Flags = (int)a->Flags;
                fs.Read(req, ino, a->Size, (long)a->Offset, fi);
                break;
            }
            case Opcode.Write:
            {
                var a = (WriteIn*)p;
                if (a->Size > size - sizeof(WriteIn))
                {
                    req.ReplyError(Posix.EIO);
                    break;
                }
                fi->Fh = a->Fh;
                if ((a->WriteFlags & ProtocolFlags.WriteCache) != 0) fi->Bits |= FuseFileInfo.WritePage;
                fi->LockOwner = a->LockOwner;
                fi->Flags = (int)a->Flags;
                fs.Write(req, ino, new ReadOnlySpan<byte>(p + sizeof(WriteIn), (int)a->Size), (long)a->Offset, fi);
                break;
            }
            case Opcode.Flush:
            {
                var a = (FlushIn*)p;
                fi->Fh = a->Fh;
                fi->Bits |= FuseFileInfo.Flush;
                fi->LockOwner = a->LockOwner;
                fs.Flush(req, ino, fi);
                break;
            }
            case Opcode.Release:
            {
                var a = (ReleaseIn*)p;
                fi->Flags = (int)a->Flags;
                fi->Fh = a->Fh;
                if ((a->ReleaseFlags & ProtocolFlags.ReleaseFlush) != 0) fi->Bits |= FuseFileInfo.Flush;
                if ((a->ReleaseFlags & ProtocolFlags.ReleaseFlockUnlock) != 0) fi->Bits |= FuseFileInfo.FlockRelease;
                fi->LockOwner = a->LockOwner;
                fs.Release(req, ino, fi);
                break;
            }
            case Opcode.ReleaseDir:
            {
                var a = (ReleaseIn*)p;
                fi->Flags = (int)a->Flags;
                fi->Fh = a->Fh;
                fs.ReleaseDir(req, ino, fi);
                break;
            }
            case Opcode.Fsync:
            case Opcode.FsyncDir:
            {
                var a = (FsyncIn*)p;
                fi->Fh = a->Fh;
                bool dataOnly = (a->FsyncFlags & ProtocolFlags.FsyncFdatasync) != 0;
                if (op == Opcode.Fsync) fs.Fsync(req, ino, dataOnly, fi);
                else fs.FsyncDir(req, ino, dataOnly, fi);
                break;
            }
            case Opcode.ReadDir:
            case Opcode.ReadDirPlus:
            {
                var a = (ReadIn*)p;
                fi->Fh = a->Fh;
                if (op == Opcode.ReadDir) fs.ReadDir(req, ino, a->Size, (long)a->Offset, fi);
                else fs.ReadDirPlus(req, ino, a->Size, (long)a->Offset, fi);
                break;
            }
            case Opcode.StatFs: fs.StatFs(req, ino); break;
            case Opcode.SetXattr:
            {
                var a = (SetXattrIn*)p;
                var name = Name(p + sizeof(SetXattrIn));
                byte* value = p + sizeof(SetXattrIn) + name.Length + 1;
                if (sizeof(SetXattrIn) + name.Length + 1 + a->Size > (uint)size)
                {
                    req.ReplyError(Posix.EIO);
                    break;
                }
                fs.SetXattr(req, ino, name, new ReadOnlySpan<byte>(value, (int)a->Size), (int)a->Flags);
                break;
            }
            case Opcode.GetXattr: fs.GetXattr(req, ino, Name(p + sizeof(GetXattrIn)), ((GetXattrIn*)p)->Size); break;
            case Opcode.ListXattr: fs.ListXattr(req, ino, ((GetXattrIn*)p)->Size); break;
            case Opcode.RemoveXattr: fs.RemoveXattr(req, ino, Name(p)); break;
            case Opcode.Access: fs.Access(req, ino, (int)((AccessIn*)p)->Mask); break;
            case Opcode.Ioctl:
            {
                var a = (IoctlIn*)p;
                if ((a->Flags & ProtocolFlags.IoctlDir) != 0 && (channel.Want & FuseCapabilities.IoctlDir) == 0)
                {
                    req.ReplyError(Posix.ENOTTY);
                    break;
                }
                if (a->InSize > size - sizeof(IoctlIn))
                {
                    req.ReplyError(Posix.EIO);
                    break;
                }
                fi->Fh = a->Fh;
                var input = a->InSize == 0 ? default : new ReadOnlySpan<byte>(p + sizeof(IoctlIn), (int)a->InSize);
                fs.Ioctl(req, ino, a->Cmd, (nint)a->Arg, fi, a->Flags, input, a->OutSize);
                break;
            }
            case Opcode.Poll:
            {
                var a = (PollIn*)p;
                fi->Fh = a->Fh;
                fi->PollEvents = a->Events;
                var ph = (a->Flags & ProtocolFlags.PollScheduleNotify) != 0 ? new FusePollHandle(KernelChannel.PollHandle(a->Kh)) : default;
                fs.Poll(req, ino, fi, ph);
                break;
            }
            case Opcode.Fallocate:
            {
                var a = (FallocateIn*)p;
                fi->Fh = a->Fh;
                fs.Fallocate(req, ino, (int)a->Mode, (long)a->Offset, (long)a->Length, fi);
                break;
            }
            case Opcode.CopyFileRange:
            case Opcode.CopyFileRange64:
            {
                var a = (CopyFileRangeIn*)p;
                slot->File2 = default;
                fi->Fh = a->FhIn;
                slot->File2.Fh = a->FhOut;
                fs.CopyFileRange(req, ino, (long)a->OffIn, fi, a->NodeIdOut, (long)a->OffOut, &slot->File2, (long)a->Len, (int)a->Flags);
                break;
            }
            case Opcode.Lseek:
            {
                var a = (LseekIn*)p;
                fi->Fh = a->Fh;
                fs.Lseek(req, ino, (long)a->Offset, (int)a->Whence, fi);
                break;
            }
            default:
                req.ReplyError(Posix.ENOSYS);
                break;
        }
    }

    private void Init(RequestSlot* slot, InitIn* arg, int size)
    {
        // A kernel older than 7.36 sends the 16-byte fuse_init_in: the rest reads as zeros.
        InitIn copy = default;
        Buffer.MemoryCopy(arg, &copy, sizeof(InitIn), Math.Min(size, sizeof(InitIn)));
        var r = InitNegotiation.Negotiate(copy, conn => fs.Init((FuseConnInfo*)conn));
        if (r.Errno != 0)
        {
            KernelReply.Error(slot, r.Errno);
            channel.Ended = true;
            return;
        }
        channel.Want = r.Want;
        channel.MaxWrite = r.MaxWrite;
        channel.ProtoMinor = r.Reply.Minor;
        // Before the reply: requests may follow at once on other workers.
        if (copy.Major == 7) channel.Initialized = true;
        KernelReply.Ok(slot, r.Reply);
    }
}
