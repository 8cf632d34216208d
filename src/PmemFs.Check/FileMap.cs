using PmemFs.Format;

namespace PmemFs.Check;

/// <summary>The rules about one file's size, its pending trim and its extents that the check and the repair both judge.</summary>
internal static class FileMap
{
    /// <summary>The first file block past EOF: ceil(size / block size).</summary>
    public static long EofBlock(InodeRecord rec) => (rec.Size + FormatConstants.BlockSize - 1) / FormatConstants.BlockSize;

    /// <summary>A pending trim that starts inside the file: finishing it would drop data.</summary>
    public static bool TrimInsideFile(InodeRecord rec) => rec.PendingTrim != 0 && rec.PendingTrim - 1 < EofBlock(rec);

    /// <summary>
    /// The first written file block of <paramref name="e"/> past EOF that no pending trim covers
    /// (so that is not allowed to be there), or -1 when there is none.
    /// </summary>
    public static long WrittenBeyondEof(InodeRecord rec, ExtentRecord e)
    {
        long eofBlock = EofBlock(rec);
        if (e.State != ExtentState.Written || e.FileEnd <= eofBlock) return -1;
        long beyond = Math.Max(e.FileBlock, eofBlock);
        bool trimPending = rec.PendingTrim != 0 && rec.PendingTrim - 1 <= beyond;
        return trimPending ? -1 : beyond;
    }
}
