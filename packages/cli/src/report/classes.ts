/** Fashion-MNIST's labels 0-9 (Zalando's README). */
const FASHION_MNIST = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** The names of a data set's classes: Fashion-MNIST's, else the class numbers. */
export function classNames(dataset: string | undefined, classes: number): string[] {
  if ((dataset === 'fashion-mnist' || dataset === 'fashion_mnist') && classes === FASHION_MNIST.length) return [...FASHION_MNIST];
  return Array.from({ length: classes }, (_, i) => String(i));
}
