using PmemFs.Engine;
using PmemFs.Fuse;
using PmemFs.Fuse.Native;

namespace PmemFs.Daemon.Operations;

/// <summary>Directory listing: readdir and readdirplus, resumable by the engine's cookies.</summary>
public sealed unsafe partial class PmemFsOperations
{
    public override void OpenDir(FuseRequest req, ulong ino, FuseFileInfo* fi)
    {
        var errno = _fs.GetAttr(ino, out var attr);
        if (errno.Failed) Reply(req, errno);
        else if (!attr.IsDirectory) Reply(req, Errno.ENOTDIR);
        else req.ReplyOpen(fi);
    }

    public override void ReadDir(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi) => List(req, ino, size, offset, plus: false);

    public override void ReadDirPlus(FuseRequest req, ulong ino, long size, long offset, FuseFileInfo* fi) => List(req, ino, size, offset, plus: true);

    private void List(FuseRequest req, ulong ino, long size, long offset, bool plus)
    {
        int capacity = (int)Math.Min(size, 1 << 20);
        Rent(capacity, out byte[] array);
        try
        {
            int used = 0;
            var errno = _fs.ReadDirectory(ino, offset, item =>
            {
                uint mode = (uint)item.Type << 12;
                if (!plus) return req.AddDirectoryEntry(array.AsSpan(0, capacity), ref used, item.Name, item.Ino, mode, item.NextCookie);
                bool dots = item.Name is [(byte)'.'] or [(byte)'.', (byte)'.'];
                if (dots)
                {
                    // No lookup count for . and ..: the kernel does not instantiate them.
                    var dot = new FuseEntryParam { Attr = new Stat { Ino = item.Ino, Mode = mode } };
                    return req.AddDirectoryEntryPlus(array.AsSpan(0, capacity), ref used, item.Name, dot, item.NextCookie);
                }
                // The child's lock is taken under the directory's read lock: parent before child.
                if (_fs.GetAttr(item.Ino, out var attr).Failed) return true;
                var entry = Entry(attr);
                if (!req.AddDirectoryEntryPlus(array.AsSpan(0, capacity), ref used, item.Name, entry, item.NextCookie)) return false;
                _fs.Retain(item.Ino);
                return true;
            });
            if (errno.Failed) Reply(req, errno);
            else req.ReplyBuffer(array.AsSpan(0, used));
        }
        finally { Return(array); }
    }
}
