/** @type {import('tailwindcss').Config} */
module.exports = {
  // Tailwind keeps only the classes it finds here, so class names must be
  // written out whole in these files (never built from pieces).
  content: ["./views/**/*.templ", "./internal/web/**/*.go"],
  theme: {
    extend: {},
  },
  plugins: [require("@tailwindcss/forms")],
};
