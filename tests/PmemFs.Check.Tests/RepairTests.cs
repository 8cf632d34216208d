using System.Text;
using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;

namespace PmemFs.Check.Tests;

/// <summary>
/// <c>fsck --repair</c> on every kind of damage: the changes it reports, a clean check (and a
/// repair that changes nothing) afterwards, and the surviving files intact through the engine.
/// </summary>
public sealed class RepairTests : IDisposable
{
    private const int Bs = FormatConstants.BlockSize;
    private readonly TestImage _img = new TestImage().Populate().Unmount();

    public void Dispose() => _img.Dispose();

    private ulong Ino(string name) => _img.Inos[name];

    /// <summary>Repairs, then: something changed, the result is clean, and a second repair changes nothing.</summary>
    private RepairReport Repair(TestImage? img = null) => RepairAssert.RepairsCleanly(img ?? _img);

    private static RepairChange Has(RepairReport report, string where, string text) => RepairAssert.Has(report, where, text);

    private static string Render(RepairReport report) => RepairAssert.Render(report);

    /// <summary>What Populate wrote, by path, and what it must read back as.</summary>
    private static readonly (string Path, Func<byte[]> Content)[] Files =
    [
        ("docs/a.txt", () => TestImage.Pattern(10_000, 1)),
        ("docs/sparse", () => Sparse()),
        ("docs/victim", () => TestImage.Pattern(2000, 12)),
        ("deep/swapdir", () => TestImage.Pattern(3000, 10)),
        ("docs/prealloc", () => Prealloc()),
    ];

    private static byte[] Sparse()
    {
        var b = new byte[(1 << 20) + Bs];
        TestImage.Pattern(Bs, 2).CopyTo(b, 0);
        TestImage.Pattern(Bs, 3).CopyTo(b, 1 << 20);
        return b;
    }

    private static byte[] Prealloc()
    {
        var b = new byte[64 * 1024];
        TestImage.Pattern(100, 4).CopyTo(b, 4096 * 3 + 10);
        return b;
    }

    /// <summary>Mounts the repaired image and reads back every file of <see cref="Files"/> not in <paramref name="except"/> (paths may be redirected).</summary>
    private void AssertIntact(Dictionary<string, string>? moved = null, params string[] except)
    {
        using var fs = FileSystem.Mount(_img.Media);
        foreach (var (path, content) in Files)
        {
            if (except.Contains(path)) continue;
            string at = moved is not null && moved.TryGetValue(path, out var m) ? m : path;
            ulong ino = Resolve(fs, at);
            var want = content();
            var got = new byte[want.Length + 1];
            Assert.Equal(Errno.Ok, fs.Read(ino, 0, got, out int n));
            Assert.Equal(want.Length, n);
            Assert.True(want.AsSpan().SequenceEqual(got.AsSpan(0, n)), $"{at}: contents differ");
        }
        if (!except.Contains("xfile"))
        {
            Assert.Equal(Errno.Ok, fs.GetXattr(Resolve(fs, "xfile"), TestImage.N("user.big"), out var big));
            Assert.Equal(TestImage.Pattern(10_000, 9), big);
        }
        Assert.Equal(Errno.Ok, fs.ReadLink(Resolve(fs, "sym"), out var target));
        Assert.Equal("docs/a.txt", Encoding.UTF8.GetString(target));
    }

    private static ulong Resolve(FileSystem fs, string path)
    {
        ulong ino = TestImage.Root;
        foreach (var part in path.Split('/'))
        {
            Assert.True(fs.Lookup(ino, TestImage.N(part), out var a) == Errno.Ok, $"{path}: no {part}");
            ino = a.Ino;
        }
        return ino;
    }

    [Fact]
    public void CleanImageIsLeftAlone()
    {
        var before = _img.Media.Read(0, checked((int)_img.Media.Size)).ToArray();
        var report = FsckRepair.Repair(_img.Media, new FsckOptions());
        Assert.Empty(report.Changes);
        ReportAssert.Clean(report.After);
        Assert.True(before.AsSpan().SequenceEqual(_img.Media.Read(0, before.Length)));
    }

    [Fact]
    public void SmashedPrimarySuperblockIsRestoredFromTheSecondary()
    {
        _img.Media.RawBytes(0, DiskSuperblock.Size).Fill(0xAB);
        var report = Repair();
        Has(report, "superblock", "primary copy rewritten from the secondary");
        Assert.Single(report.Changes);
        Assert.Equal(SuperblockCopy.Primary, ImageReader.ReadSuperblock(_img.Media, "t").UsedCopy);
        Assert.Null(ImageReader.ReadSuperblock(_img.Media, "t").SecondaryProblem);
        AssertIntact();
    }

    [Fact]
    public void SmashedSecondarySuperblockIsRestoredFromThePrimary()
    {
        var g = _img.G;
        _img.Media.RawBytes(g.SecondarySuperblock * Bs, DiskSuperblock.Size)[300] ^= 0x01;
        var report = Repair();
        Has(report, "superblock", "secondary copy");
        Assert.Single(report.Changes);
        Assert.Null(ImageReader.ReadSuperblock(_img.Media, "t").SecondaryProblem);
        AssertIntact();
    }

    [Fact]
    public void BitmapBitsFlippedBothWaysAreRebuilt()
    {
        var (_, e) = _img.Extents(Ino("a.txt"))[0];
        long leaked = _img.FreeDataBlock();
        _img.SetBit(e.PhysBlock + 1, false);
        _img.SetBit(leaked, true);
        _img.SetBit(_img.G.InodeTableStart, false);
        var report = Repair();
        Has(report, "bitmap", $"block {e.PhysBlock + 1} marked in use");
        Has(report, "bitmap", $"block {_img.G.InodeTableStart} marked in use");
        Has(report, "bitmap", $"block {leaked} marked free");
        Assert.Equal(3, report.Changes.Count);
        Assert.True(_img.Bit(e.PhysBlock + 1));
        Assert.False(_img.Bit(leaked));
        AssertIntact();
    }

    [Fact]
    public void RmapRecordsRemovedOrCorruptedAreRebuiltFromTheExtents()
    {
        var (_, a) = _img.Extents(Ino("a.txt"))[0];
        var (_, s) = _img.Extents(Ino("sparse"))[0];
        long gone = _img.RmapTwin(a).Slot;
        long bad = _img.RmapTwin(s).Slot;
        _img.RmapBytes(gone).Clear();
        _img.RmapBytes(bad)[30] ^= 0x10;
        var (journalSlot, _) = _img.Rmap(r => r.Kind == RmapOwnerKind.Journal);
        _img.RmapBytes(journalSlot).Clear();
        var (bitmapSlot, bitmapRec) = _img.Rmap(r => r.Kind == RmapOwnerKind.Bitmap);
        _img.WriteRmap(bitmapSlot, bitmapRec with { BlockCount = bitmapRec.BlockCount + 1 });

        var report = Repair();
        Has(report, $"rmap slot {bad}", "cleared (checksum mismatch)");
        Has(report, $"rmap slot {bitmapSlot}", "removed: the free-space bitmap");
        Assert.Contains(report.Changes, c => c.Message.StartsWith($"added: inode {Ino("a.txt")} file block 0", StringComparison.Ordinal));
        Assert.Contains(report.Changes, c => c.Message.StartsWith($"added: inode {Ino("sparse")} file block 0", StringComparison.Ordinal));
        Assert.Contains(report.Changes, c => c.Message.StartsWith("added: the journal", StringComparison.Ordinal));
        Assert.Contains(report.Changes, c => c.Message.StartsWith("added: the free-space bitmap", StringComparison.Ordinal));
        Assert.Equal(6, report.Changes.Count);
        AssertIntact();
    }

    [Fact]
    public void WrongLinkCountOfAFileIsFixed()
    {
        ulong a = Ino("a.txt");
        _img.WriteInode(_img.ReadInode(a) with { Nlink = 5 });
        ulong victim = _img.Inos["replacer"];
        _img.WriteInode(_img.ReadInode(victim) with { Nlink = 0 }); // 0 with an entry: not an orphan
        var report = Repair();
        Has(report, $"inode {a}", "link count 5 -> 2 (2 directory entries name it)");
        Has(report, $"inode {victim}", "link count 0 -> 1 (1 directory entry names it)");
        Assert.Equal(2, report.Changes.Count);
        Assert.Equal(2u, _img.ReadInode(a).Nlink);
        AssertIntact();
    }

    [Fact]
    public void WrongLinkCountOfADirectoryIsFixed()
    {
        ulong docs = Ino("docs");
        _img.WriteInode(_img.ReadInode(docs) with { Nlink = 7 });
        var report = Repair();
        Has(report, $"inode {docs}", "link count 7 -> 3 (2 + 1 subdirectory)");
        Assert.Single(report.Changes);
        AssertIntact();
    }

    [Fact]
    public void DirentPointingAtAFreeInodeIsRemovedAndTheFileGoesToLostAndFound()
    {
        ulong sparse = Ino("sparse");
        long slot = _img.DirentSlot(Ino("docs"), "sparse");
        var span = _img.DirentBytes(slot);
        Assert.True(DiskDirent.VerifyRead(span, slot, out var d).IsOk);
        ulong free = (ulong)_img.G.InodeCount - 5;
        DiskDirent.Seal(d with { Child = free }, span);

        var report = Repair();
        Has(report, $"dirent slot {slot}", $"removed: \"sparse\" points at free inode {free}");
        Has(report, "/lost+found", "created");
        Has(report, $"inode {sparse}", $"linked as /lost+found/#{sparse}");
        AssertIntact(new() { ["docs/sparse"] = $"lost+found/#{sparse}" });
    }

    [Fact]
    public void UnreachableDirectoryGoesToLostAndFoundWithEverythingBelowIt()
    {
        ulong docs = Ino("docs");
        long slot = _img.DirentSlot(TestImage.Root, "docs");
        _img.DirentBytes(slot).Clear();
        var report = Repair();
        Has(report, $"inode {docs}", $"directory unreachable from the root (no directory entry names it): linked as /lost+found/#{docs}");
        Has(report, "/lost+found", "created");
        Assert.Equal(2, report.Changes.Count); // root's nlink stays: lost+found takes docs' place
        string at = $"lost+found/#{docs}";
        AssertIntact(new()
        {
            ["docs/a.txt"] = at + "/a.txt", ["docs/sparse"] = at + "/sparse", ["docs/victim"] = at + "/victim", ["docs/prealloc"] = at + "/prealloc",
        });
    }

    [Fact]
    public void UnreachableFileAndExistingLostAndFoundAreUsed()
    {
        using (var fs = FileSystem.Mount(_img.Media))
            Assert.Equal(Errno.Ok, fs.MakeDirectory(TestImage.Root, TestImage.N("lost+found"), 0x1C0, Credentials.Root, out _));
        ulong victim = _img.Inos["replacer"];
        _img.DirentBytes(_img.DirentSlot(Ino("docs"), "victim")).Clear();
        var report = Repair();
        Has(report, $"inode {victim}", $"regular file unreachable from the root (no directory entry names it): linked as /lost+found/#{victim}");
        Assert.DoesNotContain(report.Changes, c => c.Where == "/lost+found");
        AssertIntact(new() { ["docs/victim"] = $"lost+found/#{victim}" });
    }

    [Fact]
    public void RemovedDirectoryThatStillHoldsEntriesGoesToLostAndFound()
    {
        ulong deeper = Ino("deeper");
        _img.DirentBytes(_img.DirentSlot(Ino("empty"), "deeper-moved")).Clear();
        _img.WriteInode(_img.ReadInode(deeper) with { Nlink = 0 });
        var report = Repair();
        Has(report, $"inode {deeper}", $"linked as /lost+found/#{deeper}");
        Has(report, $"inode {deeper}", "link count 0 -> 3 (2 + 1 subdirectory)");
        Assert.Equal(3u, _img.ReadInode(deeper).Nlink);
        AssertIntact();
    }

    [Fact]
    public void EntryNamingTheRootIsRemoved()
    {
        long copy = _img.FreeDirentSlot();
        DiskDirent.Seal(new DirentRecord(Ino("docs"), TestImage.Root, FileTypes.ToDirentType(FileTypes.Directory), TestImage.N("up")), _img.DirentBytes(copy));
        var report = Repair();
        Has(report, $"dirent slot {copy}", "removed: \"up\" points at the root directory");
        Assert.Single(report.Changes);
        AssertIntact();
    }

    [Fact]
    public void DirectoryCycleIsBrokenIntoLostAndFound()
    {
        ulong empty = Ino("empty");
        ulong deeperMoved = Ino("deeper");
        long slot = _img.DirentSlot(TestImage.Root, "empty");
        var span = _img.DirentBytes(slot);
        Assert.True(DiskDirent.VerifyRead(span, slot, out var d).IsOk);
        DiskDirent.Seal(d with { Parent = deeperMoved }, span);
        var report = Repair();
        Assert.Contains(report.Changes, c => c.Message.Contains("closed a directory cycle", StringComparison.Ordinal));
        Assert.Contains(report.Changes, c => c.Message.Contains("on a directory cycle", StringComparison.Ordinal) && (c.Where == $"inode {empty}" || c.Where == $"inode {deeperMoved}"));
        AssertIntact();
    }

    [Fact]
    public void ExtentOwnedByAFreeInodeIsRemovedAndItsBlocksFreed()
    {
        var (slot, e) = _img.Extents(Ino("a.txt"))[0];
        var twin = _img.RmapTwin(e);
        ulong free = (ulong)_img.G.InodeCount - 1;
        _img.WriteExtent(slot, e with { Ino = free });
        _img.WriteRmap(twin.Slot, twin.Rec with { Owner = free });
        var report = Repair();
        Has(report, $"extent slot {slot}", $"belongs to free inode {free}");
        Has(report, $"rmap slot {twin.Slot}", "removed");
        Has(report, "bitmap", "marked free");
        Assert.False(_img.Bit(e.PhysBlock));
        Assert.Empty(_img.Extents(free));
        AssertIntact(except: "docs/a.txt");
    }

    [Fact]
    public void InodeWithABadChecksumIsClearedWithItsEntriesAndExtents()
    {
        ulong a = Ino("a.txt");
        var extents = _img.Extents(a);
        long dslot = _img.DirentSlot(Ino("docs"), "a.txt");
        _img.InodeBytes(a)[24] ^= 0x01;
        var report = Repair();
        Has(report, $"inode {a}", "record cleared: it cannot be trusted (checksum mismatch)");
        Has(report, $"dirent slot {dslot}", $"removed: \"a.txt\" points at free inode {a}");
        Has(report, $"extent slot {extents[0].Slot}", $"belongs to free inode {a}");
        Has(report, "bitmap", "marked free");
        Assert.Equal(Verdict.Empty, DiskInode.VerifyRead(_img.InodeBytes(a), a, out _).Verdict);
        // The symlink to it dangles now, which is legal.
        AssertIntact(except: "docs/a.txt");
    }

    [Fact]
    public void InodeWithAnImpossibleFileTypeIsClearedWithTheVerifiersReason()
    {
        ulong a = Ino("a.txt");
        _img.SetImpossibleFileType(a); // mode 0xF1A4
        var report = Repair();
        Has(report, $"inode {a}", "record cleared: it cannot be trusted (invalid file type in mode 0170644)");
        Assert.Equal(Verdict.Empty, DiskInode.VerifyRead(_img.InodeBytes(a), a, out _).Verdict);
        AssertIntact(except: "docs/a.txt");
    }

    [Fact]
    public void DirentWithABadChecksumIsClearedAndItsFileGoesToLostAndFound()
    {
        ulong sparse = Ino("sparse");
        long slot = _img.DirentSlot(Ino("docs"), "sparse");
        _img.DirentBytes(slot)[40] ^= 0x20;
        var report = Repair();
        Has(report, $"dirent slot {slot}", "cleared: it cannot be trusted (checksum mismatch); the name it held is lost");
        Has(report, $"inode {sparse}", $"linked as /lost+found/#{sparse}");
        AssertIntact(new() { ["docs/sparse"] = $"lost+found/#{sparse}" });
    }

    [Fact]
    public void ExtentWithABadChecksumIsClearedAndTheFileKeepsTheRest()
    {
        var extents = _img.Extents(Ino("sparse"));
        Assert.Equal(2, extents.Count);
        var (slot, e) = extents[1];
        var twin = _img.RmapTwin(e);
        _img.ExtentBytes(slot)[20] ^= 0x02;
        var report = Repair();
        Has(report, $"extent slot {slot}", "cleared: it cannot be trusted (checksum mismatch)");
        Has(report, $"rmap slot {twin.Slot}", "removed");
        Has(report, "bitmap", $"block {e.PhysBlock} marked free");
        using var fs = FileSystem.Mount(_img.Media);
        var got = new byte[(1 << 20) + Bs];
        Assert.Equal(Errno.Ok, fs.Read(Resolve(fs, "docs/sparse"), 0, got, out int n));
        Assert.Equal(got.Length, n);
        Assert.Equal(TestImage.Pattern(Bs, 2), got[..Bs]);
        Assert.True(got.AsSpan(Bs).IndexOfAnyExcept((byte)0) < 0); // the lost block reads as a hole
    }

    [Fact]
    public void BadXattrBlobIsDroppedAndTheFileKept()
    {
        ulong x = Ino("xfile");
        var rec = _img.ReadInode(x);
        _img.Media.RawBytes(rec.XattrBlock * Bs + 5000, 1)[0] ^= 0xFF;
        var report = Repair();
        Has(report, $"inode {x}", "extended attributes removed");
        Assert.Equal(0, _img.ReadInode(x).XattrBlock);
        AssertIntact(except: "xfile");
    }

    [Fact]
    public void WrittenBlocksBeyondEofAreCutOff()
    {
        ulong a = Ino("a.txt");
        _img.WriteInode(_img.ReadInode(a) with { Size = 100 });
        var report = Repair();
        Has(report, $"extent slot {_img.Extents(a)[0].Slot}", "written file blocks 1..2 lay beyond EOF (size 100)");
        AssertIntact(except: "docs/a.txt");
    }

    [Fact]
    public void PendingTrimInsideTheFileIsCleared()
    {
        ulong a = Ino("a.txt");
        _img.WriteInode(_img.ReadInode(a) with { PendingTrim = 1 });
        var report = Repair();
        Has(report, $"inode {a}", "pending trim from file block 0 lay inside the file (size 10000): cleared");
        Assert.Single(report.Changes);
        Assert.Equal(0, _img.ReadInode(a).PendingTrim);
        AssertIntact();
    }

    [Fact]
    public void RootThatIsNotADirectoryIsRecreatedAndKeepsItsEntries()
    {
        var root = _img.ReadInode(TestImage.Root);
        _img.WriteInode(root with { Mode = TestImage.FileMode });
        var report = Repair();
        Has(report, "inode 1", "root directory recreated (it was a regular file)");
        Assert.Single(report.Changes);
        AssertIntact();
    }

    [Fact]
    public void RootWithABadChecksumIsRecreated()
    {
        _img.InodeBytes(TestImage.Root)[24] ^= 0x01;
        var report = Repair();
        Has(report, "inode 1", "record cleared");
        Has(report, "inode 1", "root directory recreated (its record was cleared)");
        AssertIntact();
    }

    [Fact]
    public void PendingJournalIsReplayedOntoTheImageAndCheckpointed()
    {
        using var crash = TestImage.CrashedWithLateFile(out ulong late);
        long dslot = crash.DirentSlot(TestImage.Root, "late");
        var extent = crash.Extents(late).Single();
        crash.DirentBytes(dslot).Clear();
        crash.ExtentBytes(extent.Slot).Clear();
        crash.SetBit(extent.Rec.PhysBlock, false);

        var sb = ImageReader.ReadSuperblock(crash.Media, "t").Superblock;
        Assert.Equal(JournalState.Pending, JournalReplay.Inspect(crash.Media, sb));
        var report = Repair(crash);
        Has(report, "journal", "committed transaction(s) onto the image");
        Assert.Single(report.Changes);
        Assert.Equal(JournalState.Clean, JournalReplay.Inspect(crash.Media, sb));
        Assert.Equal(dslot, crash.DirentSlot(TestImage.Root, "late"));
        using var fs = FileSystem.Mount(crash.Media);
        var got = new byte[3 * Bs];
        Assert.Equal(Errno.Ok, fs.Read(Resolve(fs, "late"), 0, got, out _));
        Assert.Equal(TestImage.LateContent, got);
    }

    [Fact]
    public void CommittedTransactionThatBreaksTheRulesIsDiscarded()
    {
        var sb = ImageReader.ReadSuperblock(_img.Media, "t").Superblock;
        var g = sb.Geometry;
        var header = DiskJournalHeader.ReadNewest(_img.Media.Read(g.JournalHeaderOffset, 2 * DiskJournalHeader.Size), g.LogBytes, out _)!.Value;
        var tx = new LogTransaction();
        tx.Write(0, new byte[64]); // over the primary superblock: replay refuses it
        var buf = new byte[tx.EncodedLength];
        tx.EncodeUncommitted(header.TailSeq, buf);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(buf.AsSpan(LogTransaction.CommitWordOffset), LogTransaction.CommitWord(header.TailSeq, sb.JournalSalt));
        _img.Media.Write(g.LogOffset + header.TailOffset, buf);
        ReportAssert.Has(_img.Check(), "journal", "outside the metadata tables");

        var report = Repair();
        Has(report, "journal", "discarded");
        Assert.Equal(JournalState.Clean, JournalReplay.Inspect(_img.Media, sb));
        AssertIntact();
    }

    [Fact]
    public void ReadOnlyMediaIsRefused()
    {
        string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        string path = Path.Combine(dir, $"pmemfs-repair-test-{Environment.ProcessId}-{Guid.NewGuid():N}.img");
        try
        {
            using (var file = PmemMedia.Create(path, 16L << 20))
                Mkfs.Format(file, new MkfsOptions());
            using var ro = PmemMedia.Open(path, readOnly: true);
            var e = Assert.Throws<InvalidOperationException>(() => FsckRepair.Repair(ro, new FsckOptions()));
            Assert.Contains("read-only", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void UnreadableJournalHeaderIsReset()
    {
        var g = _img.G;
        var header = _img.Media.RawBytes(g.JournalHeaderOffset, 2 * DiskJournalHeader.Size);
        header[10] ^= 0x40;
        header[DiskJournalHeader.Size + 10] ^= 0x40;
        var report = Repair();
        Has(report, "journal", "header unreadable");
        AssertIntact();
    }

    [Fact]
    public void CrashAtAnyPointOfARepairLeavesAnImageAnotherRepairFixes()
    {
        // Several kinds of damage at once, so the repair writes every table.
        _img.Media.RawBytes(0, DiskSuperblock.Size)[100] ^= 0x08;
        _img.InodeBytes(Ino("a.txt"))[24] ^= 0x01;
        _img.DirentBytes(_img.DirentSlot(Ino("docs"), "sparse")).Clear();
        _img.SetBit(_img.FreeDataBlock(), true);
        _img.RmapBytes(_img.RmapTwin(_img.Extents(_img.Inos["replacer"])[0].Rec).Slot).Clear();
        _img.WriteInode(_img.ReadInode(Ino("docs")) with { Nlink = 9 });

        long stores;
        using (var counting = MemoryMedia.CopyOf(_img.Media))
        using (var fi = new FaultInjectingMedia(counting, ownsInner: false))
        {
            FsckRepair.Repair(fi, new FsckOptions());
            stores = fi.WriteCount;
        }
        Assert.True(stores > 5);

        using var media = new FaultInjectingMedia(_img.Media, ownsInner: false);
        int crashes = 0;
        long stride = Math.Max(1, stores / 16);
        media.BeforeOperation = op =>
        {
            if (!op.IsStore || (media.WriteCount % stride) != 0) return;
            using var copy = MemoryMedia.CopyOf(_img.Media);
            var report = FsckRepair.Repair(copy, new FsckOptions());
            Assert.True(report.After.IsClean, $"crash before store {media.WriteCount} of {stores}:\n{Render(report)}");
            crashes++;
        };
        FsckRepair.Repair(media, new FsckOptions());
        media.BeforeOperation = null;
        Assert.True(crashes >= 8, $"{crashes} crash points");
        ReportAssert.Clean(_img.Check());
    }
}
