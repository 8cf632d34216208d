using PmemFs.Engine.Inodes;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine.Mapping;

// Map for write: write(2), prepare-write, and mapped writeback of a DAX_IMMUTABLE file.
// Copy on write: written blocks that other extents share are never stored into; the range
// gets new blocks holding the old bytes around the new ones, and the old blocks lose a reference.
internal sealed partial class Mapper
{
    /// <summary>
    /// Maps file blocks [b0, b1) for write and places <paramref name="source"/>'s bytes in them:
    /// holes get new blocks (2 MiB-aligned for DAX files where the range and space allow, else
    /// contiguous with the previous extent), unwritten blocks are converted, and in both the
    /// bytes outside the data are zeroed, so no stale byte ever becomes visible. Written blocks
    /// keep their place; only the data is stored into them. Every piece is flushed (never
    /// drained: the commit's drain orders it before the commit word). The extent records go
    /// into <paramref name="tx"/> when the map changes; the caller commits.
    /// Throws ENOSPC with nothing taken (the transaction gives back what it allocated; what
    /// was stored went to blocks that are free or read as zeros anyway).
    /// </summary>
    internal void MapForWrite<TSource>(Txn tx, Inode inode, long b0, long b1, TSource source)
        where TSource : IWriteSource, allows ref struct
    {
        var pieces = tx.ScratchPieces();
        bool mapChanged = false;
        long cursor = b0;
        long hint = PhysHint(inode, b0);
        // The map changes only in ExtentEdit.Apply, after this walk.
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            if (cursor < e.FileBlock)
            {
                AllocateWritten(tx, inode, cursor, e.FileBlock, pieces, ref hint, ref source);
                mapChanged = true;
            }
            long ps = Math.Max(cursor, e.FileBlock), pe = Math.Min(e.FileEnd, b1);
            bool convert = e.State == DiskState.Unwritten;
            if (convert)
            {
                // The engine never shares unwritten blocks (clones leave holes for them); should an
                // image hold such a mapping anyway, the write takes fresh blocks instead of zeroing
                // around its data in blocks another file maps.
                foreach (var run in tx.Sharing.Runs(e.PhysOf(ps), pe - ps))
                {
                    long rs = e.FileBlock + (run.Start - e.PhysBlock);
                    if (run.Shared) AllocateWritten(tx, inode, rs, rs + run.Count, pieces, ref hint, ref source);
                    else
                    {
                        Place(rs, rs + run.Count, run.Start, fresh: true, ref source);
                        pieces.Add(new ExtentPiece(rs, run.Start, run.Count, DiskState.Written));
                    }
                }
                mapChanged = true;
            }
            else if (!tx.UsesSharing && !fs.Sharing.AnyOverlap(e.PhysOf(ps), pe - ps))
            {
                // The common case, without building runs: blocks of this file only (exact under its lock).
                Place(ps, pe, e.PhysOf(ps), fresh: false, ref source);
                pieces.Add(new ExtentPiece(ps, e.PhysOf(ps), pe - ps, DiskState.Written));
            }
            else
            {
                foreach (var run in tx.Sharing.Runs(e.PhysOf(ps), pe - ps))
                {
                    long rs = e.FileBlock + (run.Start - e.PhysBlock);
                    if (!run.Shared)
                    {
                        Place(rs, rs + run.Count, run.Start, fresh: false, ref source);
                        pieces.Add(new ExtentPiece(rs, run.Start, run.Count, DiskState.Written));
                        continue;
                    }
                    CopyOnWrite(tx, inode, rs, rs + run.Count, run.Start, pieces, ref source);
                    mapChanged = true;
                }
            }
            hint = e.PhysOf(pe - 1) + 1;
            cursor = pe;
        }
        if (cursor < b1)
        {
            AllocateWritten(tx, inode, cursor, b1, pieces, ref hint, ref source);
            mapChanged = true;
        }
        if (mapChanged) ExtentEdit.Apply(fs, tx, inode, b0, b1, pieces);
    }

    /// <summary>
    /// Places <paramref name="source"/>'s bytes into the written blocks of file blocks [b0, b1)
    /// without touching the map: a DAX_IMMUTABLE file's map is frozen (rules 3 and 7), and rule 2
    /// guarantees written blocks throughout, so a hole or unwritten block there is damage (EIO),
    /// not something to fill. Flushes; the caller drains.
    /// </summary>
    internal void StoreInPlace<TSource>(Inode inode, long b0, long b1, TSource source)
        where TSource : IWriteSource, allows ref struct
    {
        long cursor = b0;
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            if (e.FileBlock > cursor || e.State != DiskState.Written) throw new ErrnoException(Errno.EIO);
            long stop = Math.Min(e.FileEnd, b1);
            Place(cursor, stop, e.PhysOf(cursor), fresh: false, ref source);
            cursor = stop;
        }
        if (cursor < b1) throw new ErrnoException(Errno.EIO);
    }

    /// <summary>
    /// Copy on write of shared file blocks [from, to), backed by <paramref name="oldPhys"/>: new
    /// blocks get the old bytes the source does not cover and the source's bytes; the extent
    /// edit then drops the old blocks (one reference fewer: the other owners keep them).
    /// </summary>
    private void CopyOnWrite<TSource>(Txn tx, Inode inode, long from, long to, long oldPhys, List<ExtentPiece> pieces, ref TSource source)
        where TSource : IWriteSource, allows ref struct
    {
        foreach (var run in tx.AllocateBlocks(to - from, oldPhys + (to - from), Alignment(inode, from, to - from)))
        {
            long bs = from * Bs, be = (from + run.Count) * Bs;
            long ds = Math.Clamp(source.Start, bs, be), de = Math.Clamp(source.End, ds, be);
            long newByte = run.Start * Bs, oldByte = oldPhys * Bs;
            if (ds > bs) CopyMedia(oldByte, newByte, ds - bs);
            if (de > ds) source.CopyTo(newByte + (ds - bs), ds, (int)(de - ds));
            if (be > de) CopyMedia(oldByte + (de - bs), newByte + (de - bs), be - de);
            fs.Media.Flush(newByte, be - bs);
            pieces.Add(new ExtentPiece(from, run.Start, run.Count, DiskState.Written));
            from += run.Count;
            oldPhys += run.Count;
        }
    }

    /// <summary>Copies bytes inside the region (old blocks to their copy), in pieces a span can hold.</summary>
    private void CopyMedia(long from, long to, long length)
    {
        const int Chunk = 1 << 20;
        for (long done = 0; done < length; done += Chunk)
        {
            int n = (int)Math.Min(Chunk, length - done);
            var part = fs.Media.Read(from + done, n);
            if (n >= 16 * 1024) fs.Media.WriteNonTemporal(to + done, part);
            else fs.Media.Write(to + done, part);
        }
    }

    /// <summary>New blocks for the hole [from, to), with the source's bytes and zeros around them.</summary>
    private void AllocateWritten<TSource>(Txn tx, Inode inode, long from, long to, List<ExtentPiece> pieces, ref long hint, ref TSource source)
        where TSource : IWriteSource, allows ref struct
    {
        foreach (var run in tx.AllocateBlocks(to - from, hint, Alignment(inode, from, to - from)))
        {
            Place(from, from + run.Count, run.Start, fresh: true, ref source);
            pieces.Add(new ExtentPiece(from, run.Start, run.Count, DiskState.Written));
            from += run.Count;
            hint = run.End;
        }
    }

    /// <summary>
    /// Stores the part of the source that falls in file blocks [fb0, fb1), backed by physical
    /// blocks from <paramref name="phys"/>; when the blocks are <paramref name="fresh"/> (new or
    /// unwritten: the media may hold anything) the rest of them is zeroed. Flushes what it touched.
    /// </summary>
    private void Place<TSource>(long fb0, long fb1, long phys, bool fresh, ref TSource source)
        where TSource : IWriteSource, allows ref struct
    {
        long bs = fb0 * Bs, be = fb1 * Bs;
        long ds = Math.Clamp(source.Start, bs, be), de = Math.Clamp(source.End, ds, be);
        long physByte = phys * Bs;
        if (fresh && ds > bs) fs.Media.Fill(physByte, ds - bs, 0);
        if (de > ds) source.CopyTo(physByte + (ds - bs), ds, (int)(de - ds));
        if (fresh && be > de) fs.Media.Fill(physByte + (de - bs), be - de, 0);
        if (fresh || de > ds) fs.Media.Flush(physByte, be - bs);
    }
}
