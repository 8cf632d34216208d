using PmemFs.Engine.Inodes;
using PmemFs.Format;

namespace PmemFs.Engine.Mapping;

/// <summary>
/// The Mapping service (XFS's iomap, DESIGN.md "Engine shape"): the one place that decides
/// which blocks back a file range and changes that. Map for read: the extent map a
/// direct-access client asks for. Map for write: allocate holes, zero and convert unwritten
/// blocks, place a write's bytes, and build the extent records of the transaction (write(2),
/// prepare-write, mapped writeback). Map as unwritten, unmap and edge copies: fallocate.
/// Callers check their arguments, flags and leases, copy their data, set sizes and times,
/// and commit; they never pick blocks themselves.
/// </summary>
/// <remarks>
/// <para>
/// Durability ordering, for every caller:
/// <code>
/// zero new and unwritten blocks around the data (and the old EOF block's tail), store the data
///   -> flush each piece (never drain here)
///   -> log commit: drain, commit word, flush, drain      (the zeros and the data are durable
///   -> apply in place                                     before the record that exposes them)
/// </code>
/// Nothing here commits: the caller owns the transaction, so an operation stays one transaction
/// (or one per window) however many pieces its range has.
/// </para>
/// <para>Locks: the caller holds the inode's lock (read to map for read, write to change the
/// map); the allocators and the lease table are leaf locks below it, as for every operation.</para>
/// <para>Files: <c>Mapper.ExtentMap.cs</c> (map for read), <c>Mapper.Write.cs</c> (map for write),
/// <c>Mapper.PrepareWrite.cs</c>, <c>Mapper.Fallocate.cs</c> (unwritten, unmap, edge copies),
/// <c>Mapper.Zeroing.cs</c>.</para>
/// </remarks>
internal sealed partial class Mapper(FileSystem fs)
{
    private const int Bs = FormatConstants.BlockSize;

    /// <summary>Where to look for blocks to continue file block <paramref name="fileBlock"/> contiguously.</summary>
    internal static long PhysHint(Inode inode, long fileBlock)
    {
        var map = inode.Extents;
        int i = map.FirstEndingAfter(fileBlock);
        var before = i > 0 ? map.All[i - 1] : null;
        return before is null ? -1 : before.PhysEnd + (fileBlock - before.FileEnd);
    }

    /// <summary>DAX files get 2 MiB-aligned blocks when the range starts on a 2 MiB file boundary and spans 2 MiB (huge-page mappings).</summary>
    private long Alignment(Inode inode, long fileBlock, long count) =>
        fs.DaxNow(inode) && fileBlock % FormatConstants.HugePageBlocks == 0 && count >= FormatConstants.HugePageBlocks
            ? FormatConstants.HugePageBlocks : 1;

    /// <summary>Bytes rounded up to whole blocks.</summary>
    internal static long RoundUp(long bytes) => (bytes + Bs - 1) / Bs * Bs;
}
