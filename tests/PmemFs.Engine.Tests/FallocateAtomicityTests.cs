using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Punch hole and zero range are metadata operations: a crash at any store leaves the file
/// as it was or as it is after, never with only the partial edge blocks zeroed (the kill -9
/// test found that: edges used to be zeroed in place before the transaction).
/// </summary>
public sealed class FallocateAtomicityTests
{
    [Theory]
    [InlineData(FallocateMode.PunchHole | FallocateMode.KeepSize, 69141L, 15670L)]
    [InlineData(FallocateMode.ZeroRange, 69141L, 15670L)]
    [InlineData(FallocateMode.ZeroRange | FallocateMode.KeepSize, 5000L, 1000L)]
    [InlineData(FallocateMode.PunchHole | FallocateMode.KeepSize, 4096L, 8192L)]
    [InlineData(FallocateMode.ZeroRange, 100L, 200_000L)]
    public void ACrashAtAnyStoreLeavesTheFileBeforeOrAfter(FallocateMode mode, long offset, long length)
    {
        var media = new MemoryMedia(32L << 20);
        Mkfs.Format(media, new MkfsOptions());
        byte[] before = Pattern(300_000, 9);
        ulong ino;
        using (var fs = FileSystem.Mount(media))
        {
            Assert.Equal(Errno.Ok, fs.Create(Root, N("f"), RegularMode, Credentials.Root, out var attr));
            ino = attr.Ino;
            Assert.Equal(Errno.Ok, fs.Write(ino, 0, before, Credentials.Root, out _));
        }
        byte[] after = (byte[])before.Clone();
        Array.Clear(after, (int)offset, (int)Math.Min(length, after.Length - offset));

        var snapshots = new List<MemoryMedia>();
        var watched = new FaultInjectingMedia(media, ownsInner: false)
        {
            BeforeOperation = op => { if (op.IsStore) snapshots.Add(MemoryMedia.CopyOf(media)); },
        };
        using (var fs = FileSystem.Mount(watched))
        {
            snapshots.Clear(); // mount's own stores are not the operation's
            Assert.Equal(Errno.Ok, fs.Fallocate(ino, mode, offset, length, Credentials.Root));
            watched.BeforeOperation = null;
        }
        snapshots.Add(MemoryMedia.CopyOf(media));

        Assert.True(snapshots.Count > 2);
        for (int i = 0; i < snapshots.Count; i++)
        {
            using var fs = FileSystem.Mount(snapshots[i]);
            var buf = new byte[before.Length];
            Assert.Equal(Errno.Ok, fs.Read(ino, 0, buf, out int n));
            Assert.Equal(before.Length, n);
            bool isBefore = buf.AsSpan().SequenceEqual(before), isAfter = buf.AsSpan().SequenceEqual(after);
            Assert.True(isBefore || isAfter,
                $"crash before store {i} of {snapshots.Count - 1}: the file is neither as before nor as after (first difference from before at {buf.AsSpan().CommonPrefixLength(before)})");
            if (i == snapshots.Count - 1) Assert.True(isAfter, "after the operation the range must read as zeros");
        }
    }
}

public sealed class FallocateExtensionTests
{
    /// <summary>
    /// Found by the kill -9 loop: truncate leaves old bytes past the new EOF in its block; a zero
    /// range that starts past EOF in that block and extends the file must show zeros between the
    /// old EOF and the range, also after a remount (the edge block is copied: the copy must not
    /// carry those old bytes).
    /// </summary>
    [Theory]
    [InlineData(104725L, 106146L, 35766L)]
    [InlineData(5000L, 6000L, 100L)]
    [InlineData(5000L, 8000L, 10000L)]
    public void ZeroRangePastEofShowsZerosFromTheOldEof(long truncateTo, long offset, long length)
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(Root, "f");
        t.Write(f, 0, Pattern(200_000, 4));
        var shrink = new SetAttrRequest { Fields = SetAttrFields.Size, Size = truncateTo };
        Assert.Equal(Errno.Ok, t.Fs.SetAttr(f, shrink, Credentials.Root, out _));
        Assert.Equal(Errno.Ok, t.Fs.Fallocate(f, FallocateMode.ZeroRange, offset, length, Credentials.Root));
        var expected = new byte[offset + length];
        Pattern(200_000, 4).AsSpan(0, (int)truncateTo).CopyTo(expected);
        Assert.Equal(expected, t.ReadAll(f));
        t.Remount();
        Assert.Equal(expected, t.ReadAll(f));
    }
}
