namespace PmemFs.Cli.Tests;

public sealed class SizeParserTests
{
    [Theory]
    [InlineData("1048576", 1048576L)]
    [InlineData("4096", 4096L)]
    [InlineData("4096B", 4096L)]
    [InlineData("8K", 8192L)]
    [InlineData("8k", 8192L)]
    [InlineData("8KB", 8192L)]
    [InlineData("8KiB", 8192L)]
    [InlineData("256M", 256L << 20)]
    [InlineData("256m", 256L << 20)]
    [InlineData("16MB", 16L << 20)]
    [InlineData("16Mi", 16L << 20)]
    [InlineData("1G", 1L << 30)]
    [InlineData("4GiB", 4L << 30)]
    [InlineData("4gib", 4L << 30)]
    [InlineData("2T", 2L << 40)]
    [InlineData(" 1G ", 1L << 30)]
    public void ValidSizesParseToBytes(string text, long expected)
    {
        Assert.True(SizeParser.TryParse(text, out long bytes, out string? error), error);
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("abc", "not a size")]
    [InlineData("G", "not a size")]
    [InlineData("12X", "not a size")]
    [InlineData("1GG", "not a size")]
    [InlineData("1 G", "not a size")]
    [InlineData("1.5G", "not a size")]
    [InlineData("0x1000", "not a size")]
    [InlineData("+4096", "not a size")]
    [InlineData("-1G", "negative")]
    [InlineData("-4096", "negative")]
    [InlineData("0", "greater than zero")]
    [InlineData("0G", "greater than zero")]
    [InlineData("1000", "multiple of 4096")]
    [InlineData("4097", "multiple of 4096")]
    [InlineData("1K", "multiple of 4096")]
    [InlineData("99999999999T", "too large")]
    [InlineData("99999999999999999999", "too large")]
    public void InvalidSizesAreRejectedWithAClearMessage(string text, string expected)
    {
        Assert.False(SizeParser.TryParse(text, out _, out string? error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
