#:project ../src/Ember/Ember.csproj
// Chapter 5: convolutions. A small CNN on the MNIST subset shipped in data/mnist-10k: 4 epochs on 1,600 digits, 400 held out.
using Ember;
using Ember.IO;
using Ember.NN;
using Ember.Optim;

string dir = Path.Combine(AppContext.GetData("EntryPointFileDirectoryPath") as string ?? ".", "..", "data", "mnist-10k");
var images = Idx.Read(Path.Combine(dir, "train-images-idx3-ubyte.gz"), asFloat: true).Narrow(0, 0, 2000).Div(255).Unsqueeze(1);
var labels = Idx.Read(Path.Combine(dir, "train-labels-idx1-ubyte.gz")).Narrow(0, 0, 2000).To(DType.Int64);
var g = new Generator(1);
var cnn = new Sequential(new Conv2d(1, 8, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2),
    new Conv2d(8, 16, 3, padding: 1, generator: g), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(16 * 7 * 7, 10, generator: g));
var opt = new Adam(cnn.Parameters(), lr: 2e-3);
for (int epoch = 0; epoch < 4; epoch++)
    for (int i = 0; i < 1600; i += 64)
    {
        int b = Math.Min(64, 1600 - i);
        var loss = Functional.CrossEntropy(cnn.Call(images.Narrow(0, i, b)), labels.Narrow(0, i, b));
        opt.ZeroGrad();
        loss.Backward();
        opt.Step();
    }
cnn.Eval();
double acc;
using (Tensor.NoGrad()) acc = cnn.Call(images.Narrow(0, 1600, 400)).ArgMax(1).Eq(labels.Narrow(0, 1600, 400)).To(DType.Float64).Mean().Item();
Console.WriteLine($"accuracy on 400 held-out digits after 4 epochs on 1,600: {acc:P1}");
if (acc < 0.85) throw new Exception("expected at least 85%");
Console.WriteLine("ok");
