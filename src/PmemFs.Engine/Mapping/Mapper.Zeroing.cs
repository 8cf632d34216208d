using PmemFs.Engine.Inodes;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine.Mapping;

// Zeroing before exposure that is not part of placing data: bytes that become the file's
// without being written.
internal sealed partial class Mapper
{
    /// <summary>
    /// Before the size grows past <paramref name="newDataStart"/>: bytes between the old EOF and
    /// the end of its block may hold data from before a truncate; zero them in place (flushed,
    /// not drained: the caller's commit orders them before the larger size).
    /// </summary>
    internal void ZeroTailBeyondEof(Inode inode, long newDataStart)
    {
        long size = inode.Rec.Size;
        if (newDataStart <= size || size % Bs == 0) return;
        var e = inode.Extents.Find(size / Bs);
        if (e is null || e.State != DiskState.Written) return;
        // The block holding a file's end is never shared (truncate unshares it, clones copy it);
        // zeroing a shared one in place would change the other owners' data.
        if (fs.Sharing.AnyOverlap(e.PhysOf(size / Bs), 1)) throw new InvalidOperationException($"inode {inode.Ino}: the block holding the end of file is shared");
        long stop = Math.Min(newDataStart, (size / Bs + 1) * Bs);
        long at = e.PhysOf(size / Bs) * Bs + size % Bs;
        fs.Media.Fill(at, stop - size, 0);
        fs.Media.Flush(at, stop - size);
    }
}
