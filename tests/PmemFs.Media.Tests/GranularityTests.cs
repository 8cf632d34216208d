namespace PmemFs.Media.Tests;

/// <summary>
/// These tests change the process's native environment, which every mapping reads; they run
/// alone, after the parallel tests.
/// </summary>
[CollectionDefinition(nameof(NativeEnvironmentCollection), DisableParallelization = true)]
public sealed class NativeEnvironmentCollection;

[Collection(nameof(NativeEnvironmentCollection))]
public sealed class GranularityTests : IDisposable
{
    private const string ForceVariable = "PMEM2_FORCE_GRANULARITY";
    private const long Size = 4L << 20;
    private readonly TempImage _image = new();

    public void Dispose() => _image.Dispose();

    [Fact]
    public void WithoutTheForceVariableAFileReportsPageGranularity()
    {
        using var scope = NativeEnvironment.Scoped(ForceVariable, null);
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Equal(StoreGranularity.Page, media.Granularity);
        Assert.False(media.UserSpaceFlushSuffices());
        Assert.Contains("page granularity", media.Description);
    }

    [Theory]
    [InlineData("CACHE_LINE", StoreGranularity.CacheLine)]
    [InlineData("BYTE", StoreGranularity.Byte)]
    [InlineData("PAGE", StoreGranularity.Page)]
    public void TheForceVariableSetsTheReportedGranularity(string value, StoreGranularity expected)
    {
        using var scope = NativeEnvironment.Scoped(ForceVariable, value);
        using var media = PmemMedia.Create(_image.Path, Size);
        Assert.Equal(expected, media.Granularity);
    }

    [Fact]
    public void WithCacheLineGranularityWritesStillPersistToTheFile()
    {
        var data = new byte[5000];
        new Random(3).NextBytes(data);
        using (NativeEnvironment.Scoped(ForceVariable, "CACHE_LINE"))
        using (var media = PmemMedia.Create(_image.Path, Size))
        {
            Assert.Equal(StoreGranularity.CacheLine, media.Granularity);
            Assert.True(media.UserSpaceFlushSuffices());
            media.Write(100, data);
            media.WriteNonTemporal(65536, data);
            media.Fill(200000, 777, 0x11);
            media.Persist(0, media.Size);
        }
        byte[] file = File.ReadAllBytes(_image.Path);
        Assert.Equal(data, file.AsSpan(100, data.Length).ToArray());
        Assert.Equal(data, file.AsSpan(65536, data.Length).ToArray());
        Assert.All(file.AsSpan(200000, 777).ToArray(), b => Assert.Equal(0x11, b));
    }

    [Fact]
    public void TheForceVariableIsReadAtMapTimeSoEarlierMappingsKeepTheirGranularity()
    {
        using var unforced = NativeEnvironment.Scoped(ForceVariable, null);
        using var before = PmemMedia.Create(_image.Path, Size);
        using (NativeEnvironment.Scoped(ForceVariable, "CACHE_LINE"))
        {
            using var during = PmemMedia.Open(_image.Path);
            Assert.Equal(StoreGranularity.CacheLine, during.Granularity);
        }
        Assert.Equal(StoreGranularity.Page, before.Granularity);
    }
}
