namespace PmemFs.Media.Poison;

/// <summary>
/// A view for reading a whole region's metadata without ever loading a bad line: reads that
/// overlap a known bad range come back as a private copy of the good bytes with the bad ones as
/// zeros (as if cleared), so a poisoned record verifies as empty or damaged, never as garbage
/// taken for data and never as a machine check. Used by mount's table load and by fsck; stores
/// pass through.
/// </summary>
public sealed class PoisonMaskedMedia(IMedia inner, IReadOnlyList<BadRange> bad) : MediaDecorator(inner, ownsInner: false)
{
    private readonly BadRange[] _bad = BadRange.Normalize(bad);

    /// <summary><paramref name="media"/> itself when it knows no bad range, else a masked view of it.</summary>
    public static IMedia Over(IMedia media) => media.BadRanges.Count == 0 ? media : new PoisonMaskedMedia(media, media.BadRanges);

    public override ReadOnlySpan<byte> Read(long offset, int length)
    {
        if (BadRange.FirstOverlap(_bad, offset, length) is null) return Inner.Read(offset, length);
        var copy = new byte[length];
        long at = offset, end = offset + length;
        foreach (var r in _bad)
        {
            if (r.End <= at) continue;
            if (r.Offset >= end) break;
            if (r.Offset > at) Inner.Read(at, (int)(r.Offset - at)).CopyTo(copy.AsSpan((int)(at - offset)));
            at = Math.Min(end, r.End);
        }
        if (at < end) Inner.Read(at, (int)(end - at)).CopyTo(copy.AsSpan((int)(at - offset)));
        return copy;
    }

    public override void CheckReadable(long offset, long length) { }

    protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value) { }
}
