namespace PmemFs.Media.Tests;

public sealed class ImageLocationTests
{
    [Theory]
    [InlineData("tmpfs", true)]
    [InlineData("ramfs", true)]
    [InlineData("hugetlbfs", true)]
    [InlineData("ext4", false)]
    [InlineData("xfs", false)]
    [InlineData(ImageLocation.Unknown, false)]
    public void MemoryFileSystemsAreTmpfsRamfsAndHugetlbfs(string fileSystem, bool memory) =>
        Assert.Equal(memory, ImageLocation.IsMemory(fileSystem));

    [Fact]
    public void AFileOnDevShmIsOnTmpfsAndInMemory()
    {
        using var image = new TempImage();
        image.WritePattern(4096);
        Assert.StartsWith("/dev/shm/", image.Path, StringComparison.Ordinal);
        Assert.Equal("tmpfs", ImageLocation.FileSystemOf(image.Path));
        Assert.True(ImageLocation.IsInMemory(image.Path));
    }

    [Fact]
    public void APathThatDoesNotExistIsOnAnUnknownFileSystem()
    {
        string path = Path.Combine("/nonexistent-pmemfs-dir", Guid.NewGuid().ToString("N"), "image.img");
        Assert.Equal(ImageLocation.Unknown, ImageLocation.FileSystemOf(path));
        Assert.False(ImageLocation.IsInMemory(path));
    }

    [Fact]
    public void AnEmptyPathIsOnAnUnknownFileSystem() =>
        Assert.Equal(ImageLocation.Unknown, ImageLocation.FileSystemOf(""));
}
