using System.Diagnostics;
using System.Globalization;
using Ember.Data;
using Ember.Models;
using Ember.NN;
using Ember.Recipes;
using Ember.Serving;
using Ember.Training;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using OpenQA.Selenium.Support.UI;
using Xunit;
using Xunit.Abstractions;

namespace Ember.Tests.Serving;

/// <summary>The page `ember serve` puts at / driven in a real browser (Debian's chromium through chromedriver): a digit
/// drawn on the canvas is classified and shown, a prompt streams generated text, a table row typed into the generated
/// form is classified. A screenshot of each page is kept under the test output's <c>browser-screenshots</c> folder
/// (or <c>EMBER_ARTIFACTS</c>). Without chromium the tests are skipped, unless <c>EMBER_REQUIRE_BROWSER=1</c> (set by
/// .ci/run, which installs it), where they fail.</summary>
[Collection("console")]
public sealed class BrowserTests(ITestOutputHelper output) : IDisposable
{
    private ChromeDriver? _browser;

    private static string? Find(string variable, params string[] candidates) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } set ? set : candidates.FirstOrDefault(File.Exists);

    private ChromeDriver Browser()
    {
        if (_browser is not null) return _browser;
        var chromium = Find("EMBER_CHROMIUM", "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome");
        var driver = Find("EMBER_CHROMEDRIVER", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver");
        if (chromium is null || driver is null)
        {
            const string why = "no chromium/chromedriver (apt-get install chromium chromium-driver, or set EMBER_CHROMIUM and EMBER_CHROMEDRIVER)";
            if (Environment.GetEnvironmentVariable("EMBER_REQUIRE_BROWSER") == "1") Assert.Fail(why);
            Skip.If(true, why);
        }
        var options = new ChromeOptions { BinaryLocation = chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,1100");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        return _browser = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    public void Dispose() => _browser?.Quit();

    private static WebDriverWait Wait(IWebDriver b, double seconds = 30) => new(b, TimeSpan.FromSeconds(seconds));

    private void Open(ChromeDriver b, string address)
    {
        b.Navigate().GoToUrl(address);
        Wait(b).Until(d => d.FindElement(By.TagName("body")).GetAttribute("data-ready") == "true");
    }

    private void Screenshot(ChromeDriver b, string name)
    {
        var dir = Environment.GetEnvironmentVariable("EMBER_ARTIFACTS") is { Length: > 0 } a ? a : Path.Combine(AppContext.BaseDirectory, "browser-screenshots");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name + ".png");
        b.GetScreenshot().SaveAsFile(path);
        Assert.True(new FileInfo(path).Length > 1000, path);
        output.WriteLine($"screenshot: {path}");
    }

    /// <summary>Clicks the page's Predict button and returns the label it shows once the answer is in.</summary>
    private static string PredictOnPage(ChromeDriver b)
    {
        b.ExecuteScript("document.getElementById('result').replaceChildren()");
        b.FindElement(By.Id("predict")).Click();
        return Wait(b).Until(d => d.FindElements(By.Id("label")) is { Count: > 0 } l && l[0].Text.Length > 0 ? l[0].Text : null)!;
    }

    [SkippableFact]
    public async Task DigitsDrawnOnTheCanvasAreClassified()
    {
        var b = Browser();
        var folder = Ember.Tests.Data.DataTests.RepoData("mnist-10k");
        var (model, _, test) = Milestones.TrainMnist(folder, new Milestones.MnistRecipe { Epochs = 4, Model = new MlpConfig { Hidden = [256] } },
            new TrainerOptions { Progress = false });
        Assert.True(test.Accuracy > 0.9, $"accuracy {test.Accuracy}");
        model.Eval();
        await using var server = await ModelServer.StartAsync(ServedModel.FromMlp(model, classification: true, null, "mnist"), new ServeOptions { Port = 0 });
        Open(b, server.Address);
        Assert.Single(b.FindElements(By.TagName("canvas")));   // the drawing canvas (the 28×28 one is never attached)

        float[] Probabilities(float[] x)
        {
            using var _ = Tensor.NoGrad();
            return model.Call(Tensor.FromArray(x, 1, x.Length)).Softmax(-1).ToArray<float>();
        }
        float[] LastInstance() => ((IReadOnlyCollection<object>)b.ExecuteScript("return window.lastInstance")!).Select(Convert.ToSingle).ToArray();

        // MNIST test digits the model is sure of, put on the canvas at 10× and sent through the page's own downscaling.
        var (xte, yte) = ImageFolders.LoadMnistFormat(folder, train: false);
        var images = xte.Reshape(xte.Size(0), 784).ToArray<float>();
        var labels = yte.ToArray<long>();
        int shown = 0;
        for (int i = 0; i < 200 && shown < 6; i++)
        {
            var x = images.AsSpan(i * 784, 784).ToArray();
            if (Probabilities(x)[labels[i]] < 0.99f) continue;
            b.ExecuteScript("drawDigit(arguments[0])", x.Select(v => (double)v).ToArray());
            var label = PredictOnPage(b);
            Assert.Equal(labels[i].ToString(CultureInfo.InvariantCulture), label);
            // The page shows what the model says for the pixels it sent: label and probabilities (to its 3 decimals).
            var sent = LastInstance();
            var p = Probabilities(sent);
            Assert.Equal(Array.IndexOf(p, p.Max()).ToString(CultureInfo.InvariantCulture), label);
            var bars = b.FindElements(By.CssSelector("#result .bar"));
            Assert.Equal(10, bars.Count);
            for (int k = 0; k < 10; k++)
                Assert.Equal(p[k].ToString("F3", CultureInfo.InvariantCulture), bars[k].FindElements(By.TagName("span"))[1].Text);
            if (shown == 0) Screenshot(b, "mnist-digit");
            shown++;
        }
        Assert.Equal(6, shown);

        // A "1" drawn with the pointer: a stroke down the middle of the canvas.
        b.FindElement(By.Id("clear")).Click();
        var canvas = b.FindElement(By.Id("canvas"));
        var stroke = new Actions(b).MoveToElement(canvas, 5, -100).ClickAndHold();
        for (int k = 1; k <= 10; k++) stroke = stroke.MoveToElement(canvas, 5 - k, -100 + 20 * k);
        stroke.Release().Perform();
        var drawn = PredictOnPage(b);
        var ink = LastInstance();
        Assert.True(ink.Count(v => v > 0.5f) >= 20, $"the stroke left {ink.Count(v => v > 0.5f)} inked pixels");
        // A vertical stroke near the middle: the ink sits in the middle columns and spans most rows.
        var inked = Enumerable.Range(0, 784).Where(k => ink[k] > 0.5f).ToArray();
        Assert.All(inked, k => Assert.InRange(k % 28, 9, 18));
        Assert.True(inked.Max() / 28 - inked.Min() / 28 >= 15, $"rows {inked.Min() / 28}..{inked.Max() / 28}");
        Assert.Equal("1", drawn);
        Screenshot(b, "mnist-drawn-1");
    }

    [SkippableFact]
    public async Task APromptStreamsGeneratedText()
    {
        var b = Browser();
        var text = string.Concat(Enumerable.Range(0, 50).Select(i => $"In the beginning {i}. "));
        var tokenizer = Ember.Text.CharTokenizer.FromCorpus(text);
        var gpt = new Gpt(new GptConfig(tokenizer.VocabSize, ContextLength: 32, NLayer: 1, NHead: 2, NEmbd: 16), new Generator(2));
        // The server holds generation at a few checkpoints until the page shows exactly the text sent so far: streamed
        // text must reach the page piece by piece while the model is still generating, whatever the machine's load.
        var served = ServedModel.FromGpt(gpt, tokenizer, "gpt");
        int[] checkpoints = [5, 20, 40];
        var sent = new List<string>();
        var reached = checkpoints.ToDictionary(k => k, _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));
        var release = checkpoints.ToDictionary(k => k, _ => new SemaphoreSlim(0));
        var held = new ServedModel
        {
            Kind = served.Kind, Source = served.Source, InstanceShape = served.InstanceShape, Outputs = served.Outputs, CheckPrompt = served.CheckPrompt,
            Generate = (request, emit) => served.Generate!(request, piece =>
            {
                bool more = emit(piece);
                sent.Add(piece);
                if (reached.TryGetValue(sent.Count, out var point))
                {
                    point.SetResult(string.Concat(sent));
                    if (!release[sent.Count].Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the test never released generation");
                }
                return more;
            }),
        };
        await using var server = await ModelServer.StartAsync(held, new ServeOptions { Port = 0 });
        Open(b, server.Address);
        var prompt = b.FindElement(By.Id("prompt"));
        prompt.Clear();
        prompt.SendKeys("In the");
        var tokens = b.FindElement(By.Id("tokens"));
        tokens.Clear();
        tokens.SendKeys("60");
        b.FindElement(By.Id("seed")).SendKeys("7");
        b.FindElement(By.Id("generate")).Click();
        foreach (var k in checkpoints)
        {
            var soFar = await reached[k].Task.WaitAsync(TimeSpan.FromSeconds(60));
            // Generation is paused after k pieces: the page must show the prompt and exactly those pieces, and not be done.
            Wait(b).Until(d => d.FindElement(By.Id("text")).Text.TrimEnd('\n') == ("In the" + soFar).TrimEnd('\n'));
            Assert.Null(b.FindElement(By.Id("text")).GetAttribute("data-done"));
            output.WriteLine($"after {k} pieces the page shows {("In the" + soFar).Length} characters");
            release[k].Release();
        }
        Wait(b).Until(d => d.FindElement(By.Id("text")).GetAttribute("data-done") == "true");
        var shown = b.FindElement(By.Id("text")).Text;
        var ids = tokenizer.Encode("In the").Select(i => (long)i).ToArray();
        var want = gpt.Generate(Tensor.FromArray(ids, 1, ids.Length), 60, new SamplingOptions(0.8, 20), generator: new Generator(7));
        var expected = "In the" + tokenizer.Decode(want.ToArray<long>().Skip(ids.Length).Select(i => (int)i));
        // The browser's innerText collapses nothing in a pre-wrap box but trims trailing newlines.
        Assert.Equal(expected.TrimEnd('\n'), shown.TrimEnd('\n'));
        Assert.Equal(60, sent.Count);
        Screenshot(b, "gpt-prompt");
    }

    [SkippableFact]
    public async Task ATableRowTypedIntoTheFormIsClassified()
    {
        if (!OperatingSystem.IsLinux()) return;
        var b = Browser();
        var dir = Directory.CreateTempSubdirectory("ember-browser").FullName;
        var csv = Path.Combine(dir, "d.csv");
        var rng = new Random(5);
        var lines = new List<string> { "width,height,label" };
        for (int i = 0; i < 300; i++) { double w = rng.NextDouble() * 10, h = rng.NextDouble() * 10; lines.Add($"{w:F3},{h:F3},{(w > h ? "wide" : "tall")}"); }
        File.WriteAllLines(csv, lines);
        var (code, _, err) = Ember.Tests.Cli.CliTests.Run("train", "--data", csv, "--target", "label", "--hidden", "16", "--epochs", "30", "--out", dir, "--quiet");
        Assert.True(code == 0, err);
        var cli = Path.Combine(AppContext.BaseDirectory, "Ember.Cli.dll");
        using var process = Process.Start(new ProcessStartInfo("dotnet", $"exec \"{cli}\" serve \"{Path.Combine(dir, "best.safetensors")}\" --port 0")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        try
        {
            var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(first);
            Open(b, first!.Split(" at ")[^1].Trim());
            var inputs = b.FindElements(By.CssSelector("#ui input"));
            Assert.Equal(["width", "height"], inputs.Select(i => i.GetAttribute("name")));
            foreach (var (w, h, want) in new[] { ("9.5", "0.7", "wide"), ("0.4", "8.8", "tall") })
            {
                inputs[0].Clear(); inputs[0].SendKeys(w);
                inputs[1].Clear(); inputs[1].SendKeys(h);
                Assert.Equal(want, PredictOnPage(b));
            }
            // A value the column cannot take: the server's error is shown, naming it.
            inputs[0].Clear(); inputs[0].SendKeys("broad");
            b.FindElement(By.Id("predict")).Click();
            var error = Wait(b).Until(d => d.FindElements(By.Id("error")) is { Count: > 0 } e ? e[0].Text : null)!;
            Assert.Contains("broad", error);
            inputs[0].Clear(); inputs[0].SendKeys("9.5");
            Assert.Equal("wide", PredictOnPage(b));
            Screenshot(b, "tabular-form");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
