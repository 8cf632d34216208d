using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PmemFs.Fuse.Native;

namespace PmemFs.Fuse;

/// <summary>
/// The unmanaged entry points libfuse calls. Each forwards to the one <see cref="LowLevelFileSystem"/>
/// of this process and turns an escaping exception into an EIO reply (an exception crossing
/// into native code would kill the daemon).
/// </summary>
internal static unsafe class Dispatch
{
    private static LowLevelFileSystem _fs = null!;

    /// <summary>Set by each reply, so that a failure after the reply does not answer twice.</summary>
    [ThreadStatic] internal static bool Answered;

    internal static LowLevelOps Table(LowLevelFileSystem fs)
    {
        _fs = fs;
        return new LowLevelOps
        {
            Init = &Init, Destroy = &Destroy, Lookup = &Lookup, Forget = &Forget, GetAttr = &GetAttr, SetAttr = &SetAttr,
            ReadLink = &ReadLink, MkNod = &MkNod, MkDir = &MkDir, Unlink = &Unlink, RmDir = &RmDir, Symlink = &Symlink,
            Rename = &Rename, Link = &Link, Open = &Open, Read = &Read, Write = &Write, Flush = &Flush, Release = &Release,
            Fsync = &Fsync, OpenDir = &OpenDir, ReadDir = &ReadDir, ReleaseDir = &ReleaseDir, FsyncDir = &FsyncDir,
            StatFs = &StatFs, SetXattr = &SetXattr, GetXattr = &GetXattr, ListXattr = &ListXattr, RemoveXattr = &RemoveXattr,
            Access = &Access, Create = &Create, Ioctl = &Ioctl, Poll = &Poll, ForgetMulti = &ForgetMulti, Fallocate = &Fallocate,
            ReadDirPlus = &ReadDirPlus, CopyFileRange = &CopyFileRange, Lseek = &Lseek,
        };
    }

    private static ReadOnlySpan<byte> Name(byte* p) => MemoryMarshal.CreateReadOnlySpanFromNullTerminated(p);

    private static void Fail(nint req, Exception e, [CallerMemberName] string op = "")
    {
        try { _fs.OnUnhandledException(op, e); } catch { /* logging must not kill the daemon */ }
        if (!Answered && req != 0) _ = LibFuse.ReplyErr(req, 5 /* EIO */);
    }

    [UnmanagedCallersOnly]
    private static void Init(void* userdata, FuseConnInfo* conn)
    {
        try { _fs.Init(conn); } catch (Exception e) { Fail(0, e); }
    }

    [UnmanagedCallersOnly]
    private static void Destroy(void* userdata)
    {
        try { _fs.Destroy(); } catch (Exception e) { Fail(0, e); }
    }

    [UnmanagedCallersOnly]
    private static void Lookup(nint req, ulong parent, byte* name)
    {
        Answered = false;
        try { _fs.Lookup(new FuseRequest(req), parent, Name(name)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Forget(nint req, ulong ino, ulong nlookup)
    {
        try { _fs.Forget(ino, nlookup); } catch (Exception e) { _fs.OnUnhandledException(nameof(Forget), e); }
        LibFuse.ReplyNone(req);
    }

    [UnmanagedCallersOnly]
    private static void ForgetMulti(nint req, nuint count, FuseForgetData* forgets)
    {
        try
        {
            for (nuint i = 0; i < count; i++) _fs.Forget(forgets[i].Ino, forgets[i].Nlookup);
        }
        catch (Exception e) { _fs.OnUnhandledException(nameof(ForgetMulti), e); }
        LibFuse.ReplyNone(req);
    }

    [UnmanagedCallersOnly]
    private static void GetAttr(nint req, ulong ino, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.GetAttr(new FuseRequest(req), ino, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void SetAttr(nint req, ulong ino, Stat* attr, int toSet, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.SetAttr(new FuseRequest(req), ino, attr, toSet, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void ReadLink(nint req, ulong ino)
    {
        Answered = false;
        try { _fs.ReadLink(new FuseRequest(req), ino); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void MkNod(nint req, ulong parent, byte* name, uint mode, ulong rdev)
    {
        Answered = false;
        try { _fs.MkNod(new FuseRequest(req), parent, Name(name), mode, rdev); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void MkDir(nint req, ulong parent, byte* name, uint mode)
    {
        Answered = false;
        try { _fs.MkDir(new FuseRequest(req), parent, Name(name), mode); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Unlink(nint req, ulong parent, byte* name)
    {
        Answered = false;
        try { _fs.Unlink(new FuseRequest(req), parent, Name(name)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void RmDir(nint req, ulong parent, byte* name)
    {
        Answered = false;
        try { _fs.RmDir(new FuseRequest(req), parent, Name(name)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Symlink(nint req, byte* link, ulong parent, byte* name)
    {
        Answered = false;
        try { _fs.Symlink(new FuseRequest(req), Name(link), parent, Name(name)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Rename(nint req, ulong parent, byte* name, ulong newParent, byte* newName, uint flags)
    {
        Answered = false;
        try { _fs.Rename(new FuseRequest(req), parent, Name(name), newParent, Name(newName), flags); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Link(nint req, ulong ino, ulong newParent, byte* newName)
    {
        Answered = false;
        try { _fs.Link(new FuseRequest(req), ino, newParent, Name(newName)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Open(nint req, ulong ino, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Open(new FuseRequest(req), ino, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Read(nint req, ulong ino, nuint size, long off, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Read(new FuseRequest(req), ino, (long)size, off, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Write(nint req, ulong ino, byte* buf, nuint size, long off, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Write(new FuseRequest(req), ino, new ReadOnlySpan<byte>(buf, checked((int)size)), off, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Flush(nint req, ulong ino, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Flush(new FuseRequest(req), ino, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Release(nint req, ulong ino, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Release(new FuseRequest(req), ino, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Fsync(nint req, ulong ino, int datasync, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Fsync(new FuseRequest(req), ino, datasync != 0, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void OpenDir(nint req, ulong ino, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.OpenDir(new FuseRequest(req), ino, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void ReadDir(nint req, ulong ino, nuint size, long off, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.ReadDir(new FuseRequest(req), ino, (long)size, off, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void ReadDirPlus(nint req, ulong ino, nuint size, long off, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.ReadDirPlus(new FuseRequest(req), ino, (long)size, off, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void ReleaseDir(nint req, ulong ino, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.ReleaseDir(new FuseRequest(req), ino, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void FsyncDir(nint req, ulong ino, int datasync, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.FsyncDir(new FuseRequest(req), ino, datasync != 0, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void StatFs(nint req, ulong ino)
    {
        Answered = false;
        try { _fs.StatFs(new FuseRequest(req), ino); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void SetXattr(nint req, ulong ino, byte* name, byte* value, nuint size, int flags)
    {
        Answered = false;
        try { _fs.SetXattr(new FuseRequest(req), ino, Name(name), new ReadOnlySpan<byte>(value, checked((int)size)), flags); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void GetXattr(nint req, ulong ino, byte* name, nuint size)
    {
        Answered = false;
        try { _fs.GetXattr(new FuseRequest(req), ino, Name(name), (long)size); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void ListXattr(nint req, ulong ino, nuint size)
    {
        Answered = false;
        try { _fs.ListXattr(new FuseRequest(req), ino, (long)size); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void RemoveXattr(nint req, ulong ino, byte* name)
    {
        Answered = false;
        try { _fs.RemoveXattr(new FuseRequest(req), ino, Name(name)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Access(nint req, ulong ino, int mask)
    {
        Answered = false;
        try { _fs.Access(new FuseRequest(req), ino, mask); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Create(nint req, ulong parent, byte* name, uint mode, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Create(new FuseRequest(req), parent, Name(name), mode, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Ioctl(nint req, ulong ino, uint cmd, void* arg, FuseFileInfo* fi, uint flags, void* inBuf, nuint inSize, nuint outSize)
    {
        Answered = false;
        try { _fs.Ioctl(new FuseRequest(req), ino, cmd, (nint)arg, fi, flags, new ReadOnlySpan<byte>(inBuf, checked((int)inSize)), (long)outSize); }
        catch (Exception e) { Fail(req, e); }
    }

    /// <summary>
    /// FUSE_POLL. <paramref name="ph"/> is non-zero when the kernel has a waiter and asks to be
    /// told of a change (FUSE_POLL_SCHEDULE_NOTIFY); the file system owns it from here (notify,
    /// then destroy; or destroy when a newer one replaces it). libfuse gives none otherwise.
    /// </summary>
    [UnmanagedCallersOnly]
    private static void Poll(nint req, ulong ino, FuseFileInfo* fi, nint ph)
    {
        Answered = false;
        try { _fs.Poll(new FuseRequest(req), ino, fi, new FusePollHandle(ph)); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Fallocate(nint req, ulong ino, int mode, long offset, long length, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Fallocate(new FuseRequest(req), ino, mode, offset, length, fi); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void CopyFileRange(nint req, ulong inoIn, long offIn, FuseFileInfo* fiIn, ulong inoOut, long offOut, FuseFileInfo* fiOut, nuint len, int flags)
    {
        Answered = false;
        try { _fs.CopyFileRange(new FuseRequest(req), inoIn, offIn, fiIn, inoOut, offOut, fiOut, (long)len, flags); } catch (Exception e) { Fail(req, e); }
    }

    [UnmanagedCallersOnly]
    private static void Lseek(nint req, ulong ino, long offset, int whence, FuseFileInfo* fi)
    {
        Answered = false;
        try { _fs.Lseek(new FuseRequest(req), ino, offset, whence, fi); } catch (Exception e) { Fail(req, e); }
    }
}
