using System.Runtime.InteropServices;

namespace PmemFs.Fuse.Native;

/// <summary>The libfuse 3.14 low-level entry points PmemFs uses (fuse_lowlevel.h).</summary>
internal static unsafe partial class LibFuse
{
    private const string Lib = "libfuse3.so.3";

    [LibraryImport(Lib, EntryPoint = "fuse_session_new")]
    public static partial nint SessionNew(FuseArgs* args, LowLevelOps* ops, nuint opSize, void* userdata);

    [LibraryImport(Lib, EntryPoint = "fuse_session_mount")]
    public static partial int SessionMount(nint se, byte* mountpoint);

    [LibraryImport(Lib, EntryPoint = "fuse_session_unmount")]
    public static partial void SessionUnmount(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_session_destroy")]
    public static partial void SessionDestroy(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_session_exit")]
    public static partial void SessionExit(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_session_fd")]
    public static partial int SessionFd(nint se);

    /// <summary>The 3.12+ loop; the unversioned symbol resolves to an older variant (FUSE-FACTS).</summary>
    [LibraryImport(Lib, EntryPoint = "fuse_session_loop_mt_312")]
    public static partial int SessionLoopMt(nint se, nint config);

    [LibraryImport(Lib, EntryPoint = "fuse_session_loop")]
    public static partial int SessionLoop(nint se);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_create")]
    public static partial nint LoopConfigCreate();

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_destroy")]
    public static partial void LoopConfigDestroy(nint config);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_set_idle_threads")]
    public static partial void LoopConfigSetIdleThreads(nint config, uint value);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_set_max_threads")]
    public static partial void LoopConfigSetMaxThreads(nint config, uint value);

    [LibraryImport(Lib, EntryPoint = "fuse_loop_cfg_set_clone_fd")]
    public static partial void LoopConfigSetCloneFd(nint config, uint value);

    [LibraryImport(Lib, EntryPoint = "fuse_req_ctx")]
    public static partial FuseContext* RequestContext(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_req_interrupted")]
    public static partial int RequestInterrupted(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_err")]
    public static partial int ReplyErr(nint req, int err);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_none")]
    public static partial void ReplyNone(nint req);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_entry")]
    public static partial int ReplyEntry(nint req, FuseEntryParam* e);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_create")]
    public static partial int ReplyCreate(nint req, FuseEntryParam* e, FuseFileInfo* fi);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_attr")]
    public static partial int ReplyAttr(nint req, Stat* attr, double timeout);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_readlink")]
    public static partial int ReplyReadlink(nint req, byte* link);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_open")]
    public static partial int ReplyOpen(nint req, FuseFileInfo* fi);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_write")]
    public static partial int ReplyWrite(nint req, nuint count);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_buf")]
    public static partial int ReplyBuf(nint req, byte* buf, nuint size);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_iov")]
    public static partial int ReplyIov(nint req, IoVec* iov, int count);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_statfs")]
    public static partial int ReplyStatfs(nint req, StatVfs* stbuf);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_xattr")]
    public static partial int ReplyXattr(nint req, nuint count);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_ioctl")]
    public static partial int ReplyIoctl(nint req, int result, void* buf, nuint size);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_lseek")]
    public static partial int ReplyLseek(nint req, long off);

    [LibraryImport(Lib, EntryPoint = "fuse_add_direntry")]
    public static partial nuint AddDirentry(nint req, byte* buf, nuint bufsize, byte* name, Stat* stbuf, long off);

    [LibraryImport(Lib, EntryPoint = "fuse_add_direntry_plus")]
    public static partial nuint AddDirentryPlus(nint req, byte* buf, nuint bufsize, byte* name, FuseEntryParam* e, long off);

    [LibraryImport(Lib, EntryPoint = "fuse_lowlevel_notify_inval_inode")]
    public static partial int NotifyInvalInode(nint se, ulong ino, long off, long len);

    [LibraryImport(Lib, EntryPoint = "fuse_lowlevel_notify_inval_entry")]
    public static partial int NotifyInvalEntry(nint se, ulong parent, byte* name, nuint namelen);

    [LibraryImport(Lib, EntryPoint = "fuse_reply_poll")]
    public static partial int ReplyPoll(nint req, uint revents);

    [LibraryImport(Lib, EntryPoint = "fuse_lowlevel_notify_poll")]
    public static partial int NotifyPoll(nint ph);

    [LibraryImport(Lib, EntryPoint = "fuse_pollhandle_destroy")]
    public static partial void PollHandleDestroy(nint ph);

    [LibraryImport(Lib, EntryPoint = "fuse_lowlevel_version")]
    public static partial int LowLevelVersion();
}

/// <summary>struct fuse_lowlevel_ops: 44 function pointers in header order (FUSE-FACTS.md).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LowLevelOps
{
    public delegate* unmanaged<void*, FuseConnInfo*, void> Init;
    public delegate* unmanaged<void*, void> Destroy;
    public delegate* unmanaged<nint, ulong, byte*, void> Lookup;
    public delegate* unmanaged<nint, ulong, ulong, void> Forget;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> GetAttr;
    public delegate* unmanaged<nint, ulong, Stat*, int, FuseFileInfo*, void> SetAttr;
    public delegate* unmanaged<nint, ulong, void> ReadLink;
    public delegate* unmanaged<nint, ulong, byte*, uint, ulong, void> MkNod;
    public delegate* unmanaged<nint, ulong, byte*, uint, void> MkDir;
    public delegate* unmanaged<nint, ulong, byte*, void> Unlink;
    public delegate* unmanaged<nint, ulong, byte*, void> RmDir;
    public delegate* unmanaged<nint, byte*, ulong, byte*, void> Symlink;
    public delegate* unmanaged<nint, ulong, byte*, ulong, byte*, uint, void> Rename;
    public delegate* unmanaged<nint, ulong, ulong, byte*, void> Link;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Open;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> Read;
    public delegate* unmanaged<nint, ulong, byte*, nuint, long, FuseFileInfo*, void> Write;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Flush;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> Release;
    public delegate* unmanaged<nint, ulong, int, FuseFileInfo*, void> Fsync;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> OpenDir;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> ReadDir;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, void> ReleaseDir;
    public delegate* unmanaged<nint, ulong, int, FuseFileInfo*, void> FsyncDir;
    public delegate* unmanaged<nint, ulong, void> StatFs;
    public delegate* unmanaged<nint, ulong, byte*, byte*, nuint, int, void> SetXattr;
    public delegate* unmanaged<nint, ulong, byte*, nuint, void> GetXattr;
    public delegate* unmanaged<nint, ulong, nuint, void> ListXattr;
    public delegate* unmanaged<nint, ulong, byte*, void> RemoveXattr;
    public delegate* unmanaged<nint, ulong, int, void> Access;
    public delegate* unmanaged<nint, ulong, byte*, uint, FuseFileInfo*, void> Create;
    public void* GetLk;
    public void* SetLk;
    public void* Bmap;
    public delegate* unmanaged<nint, ulong, uint, void*, FuseFileInfo*, uint, void*, nuint, nuint, void> Ioctl;
    public delegate* unmanaged<nint, ulong, FuseFileInfo*, nint, void> Poll;
    public void* WriteBuf;
    public void* RetrieveReply;
    public delegate* unmanaged<nint, nuint, FuseForgetData*, void> ForgetMulti;
    public void* Flock;
    public delegate* unmanaged<nint, ulong, int, long, long, FuseFileInfo*, void> Fallocate;
    public delegate* unmanaged<nint, ulong, nuint, long, FuseFileInfo*, void> ReadDirPlus;
    public delegate* unmanaged<nint, ulong, long, FuseFileInfo*, ulong, long, FuseFileInfo*, nuint, int, void> CopyFileRange;
    public delegate* unmanaged<nint, ulong, long, int, FuseFileInfo*, void> Lseek;
}
