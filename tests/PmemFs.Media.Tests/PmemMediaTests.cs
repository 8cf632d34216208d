namespace PmemFs.Media.Tests;

public sealed class PmemMediaTests : IDisposable
{
    private const long Size = 4L << 20;
    private readonly TempImage _image = new();

    public void Dispose() => _image.Dispose();

    [Fact]
    public void CreateMakesAFileOfExactlyTheRequestedSize()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Equal(Size, media.Size);
        Assert.Equal(Size, new FileInfo(_image.Path).Length);
        Assert.False(media.IsDeviceDax);
        Assert.Contains(_image.Path, media.Description);
    }

    [Fact]
    public void CreateReservesEveryBlockOfTheImage()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        // A sparse image would turn a store on a full tmpfs into SIGBUS.
        Assert.Equal(0UL, media.ReadUInt64(Size - 8));
        Assert.True(AllocatedBytes(_image.Path) >= Size);
    }

    [Fact]
    public void WriteThenPersistThenReopenShowsSameBytes()
    {
        var data = new byte[10000];
        new Random(42).NextBytes(data);
        using (var media = PmemMedia.Create(_image.Path, Size))
        {
            media.Write(12345, data);
            media.Persist(12345, data.Length);
        }
        using (var reopened = PmemMedia.Open(_image.Path))
        {
            Assert.Equal(data, reopened.Read(12345, data.Length).ToArray());
        }
        using var file = File.OpenRead(_image.Path);
        file.Position = 12345;
        var onDisk = new byte[data.Length];
        file.ReadExactly(onDisk);
        Assert.Equal(data, onDisk);
    }

    [Fact]
    public void WriteNonTemporalThenReopenShowsSameBytes()
    {
        var data = new byte[1 << 20];
        new Random(7).NextBytes(data);
        using (var media = PmemMedia.Create(_image.Path, Size))
        {
            media.WriteNonTemporal(4096 + 3, data);
            media.Persist(4096 + 3, data.Length);
        }
        using var reopened = PmemMedia.Open(_image.Path);
        Assert.Equal(data, reopened.Read(4096 + 3, data.Length).ToArray());
    }

    [Fact]
    public void CreateOfAnExistingSmallerFileExtendsItAndKeepsItsBytes()
    {
        byte[] pattern = _image.WritePattern(8192);
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Equal(Size, media.Size);
        Assert.Equal(pattern, media.Read(0, pattern.Length).ToArray());
        Assert.Equal(0UL, media.ReadUInt64(8192));
    }

    [Fact]
    public void CreateRefusesToShrinkALargerFile()
    {
        PmemMedia.Create(_image.Path, Size).Dispose();
        var e = Assert.Throws<MediaException>(() => PmemMedia.Create(_image.Path, Size / 2));
        Assert.Contains(_image.Path, e.Message);
        Assert.Contains("shrink", e.Message);
        Assert.Equal(Size, new FileInfo(_image.Path).Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4096)]
    [InlineData(4096)]
    [InlineData((1L << 20) - 4096)]
    [InlineData((1L << 20) + 1)]
    [InlineData((4L << 20) + 512)]
    public void CreateRefusesSizesBelowOneMibOrNotMultipleOf4096(long size)
    {
        var e = Assert.Throws<ArgumentException>(() => PmemMedia.Create(_image.Path, size));
        Assert.Contains("multiple of 4096", e.Message);
        Assert.Contains("1 MiB", e.Message);
        Assert.False(File.Exists(_image.Path));
    }

    [Fact]
    public void OpenOfAMissingPathThrowsMediaExceptionNamingThePath()
    {
        var e = Assert.Throws<MediaException>(() => PmemMedia.Open(_image.Path));
        Assert.Contains(_image.Path, e.Message);
        Assert.Equal(_image.Path, e.Path);
        Assert.IsAssignableFrom<IOException>(e);
    }

    [Fact]
    public void OpenOfAnEmptyFileThrowsMediaException()
    {
        File.WriteAllBytes(_image.Path, []);
        var e = Assert.Throws<MediaException>(() => PmemMedia.Open(_image.Path));
        Assert.Contains(_image.Path, e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void OpenOfANonDaxCharacterDeviceIsRefusedBeforeItIsOpened()
    {
        // Opening an arbitrary character device can act (a watchdog starts counting): its sysfs
        // subsystem is read instead, and libpmem2 never sees it.
        var e = Assert.Throws<MediaException>(() => PmemMedia.Open("/dev/null", readOnly: true));
        Assert.Contains("/dev/null", e.Message);
        Assert.Contains("not a device-DAX device", e.Message);
        Assert.Null(e.Pmem2Error);
    }

    [Fact]
    public void OpenOfADirectoryThrowsMediaException()
    {
        var e = Assert.Throws<MediaException>(() => PmemMedia.Open(System.IO.Path.GetTempPath(), readOnly: true));
        Assert.Contains(System.IO.Path.GetTempPath().TrimEnd('/'), e.Message);
    }

    [Fact]
    public void ReadOnlyOpeningIsAPrivateViewWhoseStoresNeverReachTheFile()
    {
        byte[] pattern = _image.WritePattern(1 << 20);
        using (var media = PmemMedia.Open(_image.Path, readOnly: true))
        {
            Assert.True(media.IsReadOnly);
            Assert.True(media.IsPrivateCopy);
            media.Write(100, new byte[] { 1, 2, 3, 4 });
            media.Fill(8192, 4096, 0xAB);
            media.AtomicOr64(16384, ulong.MaxValue);
            media.Persist(0, media.Size);
            media.DeepFlush(0, 4096);

            // The private copy shows the stores...
            Assert.Equal(new byte[] { 1, 2, 3, 4 }, media.Read(100, 4).ToArray());
            Assert.Equal(0xAB, media.Read(8192 + 4095, 1)[0]);
            Assert.Equal(ulong.MaxValue, media.ReadUInt64(16384));
        }
        // ...and the file does not.
        Assert.Equal(pattern, File.ReadAllBytes(_image.Path));
        using var again = PmemMedia.Open(_image.Path, readOnly: true);
        Assert.Equal(pattern.AsSpan(100, 4).ToArray(), again.Read(100, 4).ToArray());
    }

    [Fact]
    public void ReadOnlyOpeningDoesNotNeedWritePermission()
    {
        byte[] pattern = _image.WritePattern(1 << 20);
        _image.MakeUnwritable();
        Assert.Throws<MediaException>(() => PmemMedia.Open(_image.Path));

        using var media = PmemMedia.Open(_image.Path, readOnly: true);
        Assert.Equal(pattern.AsSpan(0, 4096).ToArray(), media.Read(0, 4096).ToArray());
        media.Write(0, new byte[] { 9 });
        Assert.Equal(9, media.Read(0, 1)[0]);
    }

    [Fact]
    public void ReadOnlyOpeningRefusesToClearBadBlocks()
    {
        _image.WritePattern(1 << 20);
        using var media = PmemMedia.Open(_image.Path, readOnly: true);
        Assert.Throws<InvalidOperationException>(() => media.ClearBadBlock(0, 4096));
    }

    [Fact]
    public void AtomicOr64AndAtomicAnd64ChangeOnlyTheirWordAndReachTheFile()
    {
        using (var media = PmemMedia.Create(_image.Path, Size))
        {
            media.Write(4096, BitConverter.GetBytes(0x0F0F_0000_0000_00F0UL));
            media.AtomicOr64(4096, 0x0000_0000_0000_000FUL);
            Assert.Equal(0x0F0F_0000_0000_00FFUL, media.ReadUInt64(4096));
            media.AtomicAnd64(4096, 0x00FF_FFFF_FFFF_FF0FUL);
            Assert.Equal(0x000F_0000_0000_000FUL, media.ReadUInt64(4096));
            Assert.Equal(0UL, media.ReadUInt64(4088));
            Assert.Equal(0UL, media.ReadUInt64(4104));
            media.Persist(4096, 8);
        }
        using var reopened = PmemMedia.Open(_image.Path, readOnly: true);
        Assert.Equal(0x000F_0000_0000_000FUL, reopened.ReadUInt64(4096));
    }

    [Fact]
    public void AtomicOperationsRefuseUnalignedOffsets()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Throws<ArgumentException>(() => media.AtomicOr64(4, 1));
        Assert.Throws<ArgumentException>(() => media.AtomicAnd64(4097, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.AtomicOr64(Size, 1));
    }

    [Fact]
    public void FillStoresTheValueOverExactlyTheRange()
    {
        using (var media = PmemMedia.Create(_image.Path, Size))
        {
            media.Fill(1000, 70000, 0x5A);
            media.Persist(1000, 70000);
            Assert.Equal(0, media.Read(999, 1)[0]);
            Assert.Equal(0, media.Read(71000, 1)[0]);
        }
        byte[] file = File.ReadAllBytes(_image.Path);
        Assert.Equal(0, file[999]);
        Assert.All(file.AsSpan(1000, 70000).ToArray(), b => Assert.Equal(0x5A, b));
        Assert.Equal(0, file[71000]);
    }

    [Fact]
    public void AccessOutsideTheRegionThrowsArgumentOutOfRange()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Read(Size - 4, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Read(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Write(Size, new byte[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Fill(Size - 1, 2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Flush(0, Size + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => media.Fill(0, -1, 0));
        media.Write(Size, ReadOnlySpan<byte>.Empty);
        media.Flush(Size, 0);
    }

    [Fact]
    public void UseAfterDisposeThrowsObjectDisposed()
    {
        var media = PmemMedia.Create(_image.Path, Size);
        media.Dispose();
        media.Dispose();
        Assert.Throws<ObjectDisposedException>(() => media.Read(0, 1).ToArray());
        Assert.Throws<ObjectDisposedException>(() => media.Write(0, new byte[1]));
        Assert.Throws<ObjectDisposedException>(() => media.Drain());
    }

    [Fact]
    public void AFileHasNoUnsafeShutdownCount()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Null(media.UnsafeShutdownCount);
    }

    [Fact]
    public void AFileHasNoBadBlocks()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Empty(media.ReadBadBlocks());
    }

    [Fact]
    public void ClearingABadBlockOfAFileZeroesExactlyThatRange()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        media.Fill(0, 3 * 4096, 0xFF);
        media.Persist(0, 3 * 4096);
        media.ClearBadBlock(4096, 4096);
        Assert.Equal(0xFF, media.Read(4095, 1)[0]);
        Assert.All(media.Read(4096, 4096).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(0xFF, media.Read(8192, 1)[0]);
        Assert.Empty(media.ReadBadBlocks());
    }

    [Fact]
    public void DeepFlushOfAFileSucceeds()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        media.Write(0, new byte[] { 1, 2, 3 });
        media.DeepFlush(0, 3);
    }

    [Fact]
    public void PointerAtAddressesTheSameBytesAsRead()
    {
        using var media = PmemMedia.Create(_image.Path, Size);
        media.Write(5000, new byte[] { 0xC3 });
        unsafe
        {
            Assert.Equal(0xC3, *media.PointerAt(5000));
        }
    }

    private static long AllocatedBytes(string path)
    {
        // du reports allocated blocks, which is what a sparse file lacks.
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("du", ["-B1", path])
        {
            RedirectStandardOutput = true,
        })!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(output.Split('\t')[0]);
    }
}
